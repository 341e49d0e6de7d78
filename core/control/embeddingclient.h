#pragma once

#include <QByteArray>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>

#include <functional>
#include <string>
#include <vector>

class QNetworkAccessManager;

namespace l0l3 {

// Which embeddings provider the control plane (console, l0l3-ctl) computes
// the L1 vectors of approved entries with: the same settings as the
// gateways' --embeddings/--embeddings-model. No URL: the embedded lexical
// provider (EntryVectors::provider(), no flag, no download).
struct EmbeddingSettings
{
    // An OpenAI-compatible endpoint: the full POST URL (".../v1/embeddings")
    // or the server's base URL ("http://host:port", "/v1/embeddings" is then
    // appended; a base ending in "/v1" gets "/embeddings"). http or https.
    QString url;
    QString model;         // the "model" sent with each request; required with a URL
    QString caFile;        // https: PEM CA bundle that replaces the system CAs (empty: the system's)
    int timeoutMs = 10000; // per request, from send to the last byte
    int batchSize = 32;    // inputs per request (bulk work: import, vectors rebuild)
    // Sent as "Authorization: Bearer KEY" when set; from $L0L3_EMBEDDINGS_API_KEY or a key
    // file, never saved in a profile nor shown.
    QByteArray apiKey;

    bool isRemote() const { return !url.isEmpty(); }
    // The model id stored in vector records: LexicalEmbedder's, or openAiEmbeddingModelId(model).
    std::string modelId() const;
    // The endpoint actually posted to (see url).
    QString endpoint() const;
    // Empty when usable; otherwise what is wrong (a bad scheme, no model, an unreadable CA file...).
    QString check() const;
};

// Computes embeddings with EmbeddingSettings' provider, asynchronously.
// Remote replies are untrusted: the body is bounded (kMaxReplyBytes) and
// parsed by EmbeddingsApi::parseResponse (exactly one embedding per input,
// finite numbers, one dimension, L2-normalised). Only HTTP 200 is an answer;
// no redirect is followed; TLS peers are verified.
//
// Thread affinity: the thread it lives on; callbacks arrive there, never
// synchronously inside embed(), exactly once per call (also when the client
// is destroyed first: then not at all).
class EmbeddingClient : public QObject
{
    Q_OBJECT
public:
    static constexpr qint64 kMaxReplyBytes = 32 << 20;
    static constexpr int kMaxBatch = 256;

    struct Result
    {
        bool ok = false;
        QString error;                           // when !ok: what failed, for a person (plain text)
        std::vector<std::vector<float>> vectors; // one per input, in order
    };
    using Callback = std::function<void(const Result &)>;

    explicit EmbeddingClient(const EmbeddingSettings &settings, QObject *parent = nullptr);
    ~EmbeddingClient() override;

    const EmbeddingSettings &settings() const { return m_settings; }

    // Embeds texts: lexical locally, remote in requests of at most batchSize
    // inputs sent one after another; any failed request fails the call.
    void embed(const QStringList &texts, Callback cb);

private:
    struct Call;
    void sendNext(std::shared_ptr<Call> call);

    EmbeddingSettings m_settings;
    QNetworkAccessManager *m_network = nullptr;
};

} // namespace l0l3
