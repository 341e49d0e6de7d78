#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QNetworkAccessManager>
#include <QPair>
#include <QString>
#include <QUrl>

namespace l0l3::test {

using HttpHeaders = QList<QPair<QByteArray, QByteArray>>;

struct HttpResult
{
    int status = 0;                        // 0: no HTTP response (connection error or timeout)
    QHash<QByteArray, QByteArray> headers; // lower-case names
    QByteArray body;
    QString error; // network error text, empty on success (HTTP errors are not errors here)
    bool timedOut = false;

    QByteArray header(const QByteArray &name) const { return headers.value(name.toLower()); }
    // Status, error, headers and the start of the body, for failure messages.
    QString describe(qsizetype bodyBytes = 1000) const;
};

// Blocking HTTP for tests only: each call spins a local QEventLoop until the
// reply finishes or timeoutMs passes (then the request is aborted).
// timeoutMs is a bound tuned for the default build: it is scaled by TimeScale.
class HttpClient
{
public:
    HttpClient();

    // POST without a Content-Type header in headers sends application/json.
    HttpResult post(const QUrl &url, const QByteArray &body, const HttpHeaders &headers = {}, int timeoutMs = 10000);
    HttpResult get(const QUrl &url, const HttpHeaders &headers = {}, int timeoutMs = 10000);
    // Any method, e.g. DELETE or PUT for 405 checks.
    HttpResult request(const QByteArray &method, const QUrl &url, const QByteArray &body = {},
                       const HttpHeaders &headers = {}, int timeoutMs = 10000);

private:
    QNetworkAccessManager m_manager;
};

} // namespace l0l3::test
