#include "tests/support/httpclient.h"

#include <QEventLoop>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QStringList>
#include <QTimer>

#include "tests/support/timescale.h"

namespace l0l3::test {

QString HttpResult::describe(qsizetype bodyBytes) const
{
    QStringList lines;
    for (auto it = headers.begin(); it != headers.end(); ++it)
        lines << QString::fromUtf8(it.key() + ": " + it.value());
    return QStringLiteral("status %1 %2\n%3\n%4")
        .arg(status)
        .arg(error, lines.join(u'\n'), QString::fromUtf8(body.left(bodyBytes)));
}

HttpClient::HttpClient()
{
    // Tests talk to loopback only; an http_proxy in the environment must not interfere.
    m_manager.setProxy(QNetworkProxy::NoProxy);
}

HttpResult HttpClient::post(const QUrl &url, const QByteArray &body, const HttpHeaders &headers, int timeoutMs)
{
    return request(QByteArrayLiteral("POST"), url, body, headers, timeoutMs);
}

HttpResult HttpClient::get(const QUrl &url, const HttpHeaders &headers, int timeoutMs)
{
    return request(QByteArrayLiteral("GET"), url, {}, headers, timeoutMs);
}

HttpResult HttpClient::request(const QByteArray &method, const QUrl &url, const QByteArray &body,
                               const HttpHeaders &headers, int timeoutMs)
{
    QNetworkRequest req(url);
    req.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    req.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    bool hasContentType = false;
    for (const auto &[name, value] : headers) {
        req.setRawHeader(name, value);
        hasContentType = hasContentType || name.compare("content-type", Qt::CaseInsensitive) == 0;
    }
    if (method == "POST" && !hasContentType)
        req.setRawHeader(QByteArrayLiteral("Content-Type"), QByteArrayLiteral("application/json"));

    QNetworkReply *reply = nullptr;
    if (method == "GET")
        reply = m_manager.get(req);
    else if (method == "POST")
        reply = m_manager.post(req, body);
    else
        reply = m_manager.sendCustomRequest(req, method, body);

    QEventLoop loop;
    QTimer timer;
    timer.setSingleShot(true);
    bool timedOut = false;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
        timedOut = true;
        loop.quit();
    });
    timer.start(TimeScale::ms(timeoutMs));
    if (!reply->isFinished())
        loop.exec();

    HttpResult result;
    result.timedOut = timedOut;
    if (timedOut) {
        reply->abort();
        result.error = QStringLiteral("timed out after %1 ms").arg(timeoutMs);
    }
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    for (const auto &[name, value] : reply->rawHeaderPairs())
        result.headers.insert(name.toLower(), value);
    if (!timedOut)
        result.body = reply->readAll();
    // HTTP error statuses are results here, not failures.
    if (!timedOut && result.status == 0 && reply->error() != QNetworkReply::NoError)
        result.error = reply->errorString();
    reply->deleteLater();
    return result;
}

} // namespace l0l3::test
