#include "core/control/embeddingclient.h"

#include <QFile>
#include <QMetaObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTimer>
#include <QUrl>

#include <algorithm>
#include <memory>
#include <string_view>

#include "core/common/embeddingsapi.h"
#include "core/control/entryvectors.h"

namespace l0l3 {

namespace {

constexpr qint64 kMaxCaBytes = 4 << 20;
constexpr int kMaxErrorSnippet = 200;

// The CA file's certificates; empty and a reason when it cannot be used.
QList<QSslCertificate> readCas(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read the embeddings CA file %1: %2").arg(path, file.errorString());
        return {};
    }
    const QByteArray pem = file.read(kMaxCaBytes + 1);
    if (pem.size() > kMaxCaBytes) {
        *error = QStringLiteral("the embeddings CA file %1 is larger than %2 bytes").arg(path).arg(kMaxCaBytes);
        return {};
    }
    QList<QSslCertificate> cas = QSslCertificate::fromData(pem, QSsl::Pem);
    if (cas.isEmpty())
        *error = QStringLiteral("no PEM certificate in the embeddings CA file %1").arg(path);
    return cas;
}

// A remote error body, shortened to one line (shown as plain text by the callers).
QString snippet(const QByteArray &body)
{
    QString s = QString::fromUtf8(body.left(4 * kMaxErrorSnippet)).simplified();
    if (s.size() > kMaxErrorSnippet)
        s = s.left(kMaxErrorSnippet) + QChar(0x2026);
    return s;
}

} // namespace

std::string EmbeddingSettings::modelId() const
{
    return isRemote() ? EmbeddingsApi::modelId(model.toStdString()) : EntryVectors::provider().modelId();
}

QString EmbeddingSettings::endpoint() const
{
    if (!isRemote())
        return {};
    QUrl u(url);
    QString path = u.path();
    while (path.endsWith(u'/'))
        path.chop(1);
    if (path.endsWith(QLatin1String("/embeddings")))
        return u.toString();
    path += path.endsWith(QLatin1String("/v1")) ? QStringLiteral("/embeddings") : QStringLiteral("/v1/embeddings");
    u.setPath(path);
    return u.toString();
}

QString EmbeddingSettings::check() const
{
    if (!isRemote()) {
        if (!model.isEmpty() || !caFile.isEmpty())
            return QStringLiteral("an embeddings model or CA file needs an embeddings URL");
        return {};
    }
    const QUrl u(url, QUrl::StrictMode);
    if (!u.isValid() || (u.scheme() != QLatin1String("http") && u.scheme() != QLatin1String("https"))
        || u.host().isEmpty())
        return QStringLiteral("the embeddings URL %1 is not an http:// or https:// URL").arg(url);
    if (!EmbeddingsApi::isValidModel(model.toStdString()))
        return QStringLiteral("an embeddings URL needs a model name (1 to %1 printable ASCII characters)")
            .arg(EmbeddingsApi::kMaxModelBytes);
    if (!caFile.isEmpty()) {
        if (u.scheme() != QLatin1String("https"))
            return QStringLiteral("an embeddings CA file needs an https:// URL");
        QString error;
        if (readCas(caFile, &error).isEmpty())
            return error;
    }
    if (timeoutMs <= 0 || batchSize <= 0 || batchSize > EmbeddingClient::kMaxBatch)
        return QStringLiteral("embeddings timeout and batch size must be positive (batch at most %1)")
            .arg(EmbeddingClient::kMaxBatch);
    return {};
}

struct EmbeddingClient::Call
{
    QStringList texts;
    qsizetype next = 0; // first input of the next request
    Result result;
    Callback cb;
};

EmbeddingClient::EmbeddingClient(const EmbeddingSettings &settings, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
{
}

EmbeddingClient::~EmbeddingClient()
{
    // Requests still in flight end without calling back into what is being destroyed.
    if (m_network) {
        for (QNetworkReply *reply : m_network->findChildren<QNetworkReply *>()) {
            QObject::disconnect(reply, nullptr, this, nullptr);
            reply->abort();
        }
    }
}

void EmbeddingClient::embed(const QStringList &texts, Callback cb)
{
    auto call = std::make_shared<Call>();
    call->texts = texts;
    call->cb = std::move(cb);
    call->result.vectors.reserve(std::size_t(texts.size()));
    if (!m_settings.isRemote()) {
        for (const QString &t : texts)
            call->result.vectors.push_back(EntryVectors::provider().embed(t.toStdString()));
        call->result.ok = true;
        QMetaObject::invokeMethod(
            this, [call] { call->cb(call->result); }, Qt::QueuedConnection);
        return;
    }
    if (const QString problem = m_settings.check(); !problem.isEmpty()) {
        call->result.error = problem;
        QMetaObject::invokeMethod(
            this, [call] { call->cb(call->result); }, Qt::QueuedConnection);
        return;
    }
    if (!m_network)
        m_network = new QNetworkAccessManager(this);
    // Posted, so that an empty list too answers after the call returns.
    QMetaObject::invokeMethod(
        this, [this, call] { sendNext(call); }, Qt::QueuedConnection);
}

void EmbeddingClient::sendNext(std::shared_ptr<Call> call)
{
    if (call->next >= call->texts.size()) {
        call->result.ok = true;
        return call->cb(call->result);
    }
    const qsizetype count = std::min<qsizetype>(m_settings.batchSize, call->texts.size() - call->next);
    std::vector<std::string> owned;
    owned.reserve(std::size_t(count));
    for (qsizetype i = 0; i < count; ++i)
        owned.push_back(call->texts[call->next + i].toStdString());
    const std::vector<std::string_view> inputs(owned.begin(), owned.end());
    const std::string body = EmbeddingsApi::request(m_settings.model.toStdString(), inputs);

    QNetworkRequest request{QUrl(m_settings.endpoint())};
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    request.setTransferTimeout(m_settings.timeoutMs);
    if (!m_settings.apiKey.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Authorization"), "Bearer " + m_settings.apiKey);
    if (request.url().scheme() == QLatin1String("https")) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setPeerVerifyMode(QSslSocket::VerifyPeer);
        tls.setProtocol(QSsl::TlsV1_2OrLater);
        if (!m_settings.caFile.isEmpty()) {
            QString error;
            tls.setCaCertificates(readCas(m_settings.caFile, &error));
        }
        request.setSslConfiguration(tls);
    }
    QNetworkReply *reply = m_network->post(request, QByteArray::fromStdString(body));

    // The whole request, not only a silent link, is bounded by the timeout.
    auto *deadline = new QTimer(reply);
    deadline->setSingleShot(true);
    auto timedOut = std::make_shared<bool>(false);
    connect(deadline, &QTimer::timeout, reply, [reply, timedOut] {
        *timedOut = true;
        reply->abort();
    });
    deadline->start(m_settings.timeoutMs);
    auto tooLarge = std::make_shared<bool>(false);
    // A length announced in the headers is refused before any of the body is read.
    connect(reply, &QNetworkReply::metaDataChanged, reply, [reply, tooLarge] {
        bool known = false;
        const qint64 length = reply->header(QNetworkRequest::ContentLengthHeader).toLongLong(&known);
        if (known && length > kMaxReplyBytes) {
            *tooLarge = true;
            reply->abort();
        }
    });
    connect(reply, &QNetworkReply::downloadProgress, reply, [reply, tooLarge](qint64 received, qint64 total) {
        if (received > kMaxReplyBytes || total > kMaxReplyBytes) {
            *tooLarge = true;
            reply->abort();
        }
    });
    connect(reply, &QNetworkReply::finished, this, [this, call, reply, count, timedOut, tooLarge] {
        reply->deleteLater();
        const QString where = m_settings.endpoint();
        auto failWith = [&](const QString &why) {
            call->result.ok = false;
            call->result.vectors.clear();
            call->result.error = QStringLiteral("embeddings request to %1 failed: %2").arg(where, why);
            call->cb(call->result);
        };
        if (*tooLarge)
            return failWith(QStringLiteral("the reply is larger than %1 bytes").arg(kMaxReplyBytes));
        if (*timedOut || reply->error() == QNetworkReply::OperationCanceledError
            || reply->error() == QNetworkReply::TimeoutError)
            return failWith(QStringLiteral("no answer within %1 ms").arg(m_settings.timeoutMs));
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QByteArray bytes = reply->read(kMaxReplyBytes + 1);
        if (reply->error() != QNetworkReply::NoError && status == 0)
            return failWith(reply->errorString());
        if (status != 200) {
            const QString detail = snippet(bytes);
            return failWith(QStringLiteral("HTTP %1%2")
                                .arg(status)
                                .arg(detail.isEmpty() ? QString() : QStringLiteral(": ") + detail));
        }
        if (bytes.size() > kMaxReplyBytes)
            return failWith(QStringLiteral("the reply is larger than %1 bytes").arg(kMaxReplyBytes));
        std::vector<std::vector<float>> vectors;
        std::string why;
        if (!EmbeddingsApi::parseResponse(std::string_view(bytes.constData(), std::size_t(bytes.size())),
                                          std::size_t(count), &vectors, &why))
            return failWith(QStringLiteral("malformed reply (%1)").arg(QString::fromStdString(why)));
        if (!call->result.vectors.empty() && call->result.vectors.front().size() != vectors.front().size())
            return failWith(QStringLiteral("the reply changed the dimension from %1 to %2")
                                .arg(call->result.vectors.front().size())
                                .arg(vectors.front().size()));
        for (auto &v : vectors)
            call->result.vectors.push_back(std::move(v));
        call->next += count;
        sendNext(call);
    });
}

} // namespace l0l3
