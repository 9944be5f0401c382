// java-httpclient-per-request: java.net.http.HttpClient (Java 11+) built anew for every
// request with HttpClient.newHttpClient() (default settings), body read as a String
// (5 GETs, 50 ms apart). Each client has its own connection pool, and JDK 17's
// HttpClient has no close(); the JVM exits (System.exit) 0.5 s after the last response.
//
//	javac -d CLASSDIR java-httpclient-per-request.java
//	java -cp CLASSDIR JavaHttpClientPerRequest http://127.0.0.1:18228
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

class JavaHttpClientPerRequest {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        for (int i = 1; i <= 5; i++) {
            HttpClient client = HttpClient.newHttpClient();   // BUG on purpose: one per request
            HttpRequest req = HttpRequest.newBuilder(URI.create(base + "/item" + i + ".txt")).build();
            HttpResponse<String> r = client.send(req, HttpResponse.BodyHandlers.ofString());
            System.err.printf("GET /item%d.txt -> %d, %d chars, %s%n", i, r.statusCode(),
                    r.body().length(), r.version());
            Thread.sleep(50);
        }
        Thread.sleep(500);
        System.exit(0);
    }
}
