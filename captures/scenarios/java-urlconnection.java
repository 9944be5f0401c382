// java-urlconnection: java.net.HttpURLConnection per request (5 GETs, 50 ms apart), body
// read fully and the stream closed, so the JDK's keep-alive cache (sun.net.www.http.
// KeepAliveCache) can hand the connection to the next request. The JVM exits
// (System.exit) 0.5 s after the last response.
//
//	javac -d CLASSDIR java-urlconnection.java
//	java -cp CLASSDIR JavaUrlConnection http://127.0.0.1:18229
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;

class JavaUrlConnection {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        for (int i = 1; i <= 5; i++) {
            HttpURLConnection c = (HttpURLConnection) new URL(base + "/item" + i + ".txt").openConnection();
            int code = c.getResponseCode();
            int n = 0;
            try (InputStream in = c.getInputStream()) {
                n = in.readAllBytes().length;   // read to EOF, then close: back to the cache
            }
            System.err.printf("GET /item%d.txt -> %d, %d bytes%n", i, code, n);
            Thread.sleep(50);
        }
        Thread.sleep(500);
        System.exit(0);
    }
}
