// java-urlconnection-unread: java.net.HttpURLConnection per request (5 GETs, 50 ms apart):
// getResponseCode(), then disconnect() without reading the body. disconnect() on a
// connection whose body was not consumed closes the socket instead of caching it.
// The JVM exits (System.exit) 0.5 s after the last response.
//
//	javac -d CLASSDIR java-urlconnection-unread.java
//	java -cp CLASSDIR JavaUrlConnectionUnread http://127.0.0.1:18230
import java.net.HttpURLConnection;
import java.net.URL;

class JavaUrlConnectionUnread {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        for (int i = 1; i <= 5; i++) {
            HttpURLConnection c = (HttpURLConnection) new URL(base + "/item" + i + ".txt").openConnection();
            int code = c.getResponseCode();   // status line + headers only; body never read
            c.disconnect();
            System.err.printf("GET /item%d.txt -> %d (body not read, disconnect())%n", i, code);
            Thread.sleep(50);
        }
        Thread.sleep(500);
        System.exit(0);
    }
}
