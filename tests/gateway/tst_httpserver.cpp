#include <QElapsedTimer>
#include <QTcpSocket>
#include <QTest>

#include <stdexcept>
#include <string>
#include <thread>

#include "core/gateway/httpserver.h"

using namespace l0l3;

namespace {

// One request on a new connection; the response's bytes (empty when the connection closed without one).
QByteArray exchange(int port, const QByteArray &request)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
    if (!socket.waitForConnected(3000))
        return {};
    socket.write(request);
    QByteArray reply;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 3000 && socket.state() == QAbstractSocket::ConnectedState) {
        socket.waitForReadyRead(50);
        reply += socket.readAll();
        if (reply.contains("\r\n\r\nok"))
            break;
    }
    return reply + socket.readAll();
}

} // namespace

// HttpServer on its own threads, in this process.
class TestHttpServer : public QObject
{
    Q_OBJECT

private slots:
    void exceptionOnIoThreadIsSurvived();
};

void TestHttpServer::exceptionOnIoThreadIsSurvived()
{
    HttpServer::Options options;
    options.threads = 1;
    HttpServer server(options, [](HttpExchange exchange) {
        if (exchange.request().target() == "/boom")
            throw std::runtime_error("handler failed");
        exchange.respond(200, "text/plain", "ok");
    });
    std::string error;
    QVERIFY2(server.listen(&error), error.c_str());
    std::thread runner([&server] { server.run(); });
    const int port = server.port();

    QVERIFY(exchange(port, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n").startsWith("HTTP/1.1 200"));
    // The exception unwinds the thread's run(); the connection it was handling goes, the server stays.
    QVERIFY(!exchange(port, "GET /boom HTTP/1.1\r\nHost: h\r\n\r\n").startsWith("HTTP/1.1 200"));
    for (int i = 0; i < 3; ++i)
        QVERIFY(exchange(port, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n").startsWith("HTTP/1.1 200"));

    server.stop();
    runner.join();
}

QTEST_GUILESS_MAIN(TestHttpServer)
#include "tst_httpserver.moc"
