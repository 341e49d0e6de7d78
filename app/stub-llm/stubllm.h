#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/signal_set.hpp>

#include "core/gateway/chatrequestparser.h"
#include "core/gateway/httpserver.h"

namespace l0l3 {

// Test equipment, not a model: an OpenAI-compatible upstream whose answer is
// a deterministic function of the last user message, with configurable
// latency (plus a long-tailed jitter) and failure rate. Counts the chat
// requests it receives (GET /stats) so tests can prove hits never reach it.
class StubLlm
{
public:
    struct Options
    {
        std::string host = "127.0.0.1";
        std::uint16_t port = 0;
        int latencyMs = 0;
        // stream: true: the first event after ttftMs, the others spread over latencyMs (plus jitter).
        int ttftMs = 0;
        int jitterMs = 0;
        double failRate = 0;
        int failStatus = 500; // the status of a failure drawn at failRate
        int retryAfterS = -1; // with a 429 or 503 failure, Retry-After: this; -1: none
        std::uint64_t seed = 1;
        int threads = 1;
        std::shared_ptr<boost::asio::ssl::context> tls; // serve HTTPS (TlsContext::server); null: HTTP
        // POST /v1/embeddings: LexicalEmbedder vectors of this dimension (a power of two from 64
        // to 2048; a request's "dimensions" overrides it), after this latency, failing at this
        // rate (drawn from --seed, with failStatus).
        int embeddingsDimension = 256;
        int embeddingsLatencyMs = 0;
        double embeddingsFailRate = 0;
    };

    explicit StubLlm(Options options);
    bool start(std::string *error);
    std::uint16_t port() const { return m_server.port(); }
    void run() { m_server.run(); }

    // "Stub answer (#<8 hex of xxh3 of the prompt>): " + two sentences picked by the hash.
    static std::string answerFor(std::string_view prompt);

private:
    void handle(HttpExchange exchange);
    void answer(HttpExchange exchange, std::string model, std::string prompt, bool stream, bool fail,
                bool includeUsage = false, int spreadMs = 0);
    // Writes events[next], then the next one intervalMs later; at abortAt the connection is
    // dropped instead (a truncated stream).
    void streamEvents(HttpExchange exchange, std::shared_ptr<std::vector<std::string>> events, std::size_t next,
                      int intervalMs, std::size_t abortAt);
    void embeddings(HttpExchange exchange);
    int drawLatencyMs();
    bool drawFailure();

    Options m_options;
    HttpServer m_server;
    std::vector<std::unique_ptr<ChatRequestParser>> m_parsers; // one per thread
    std::unique_ptr<boost::asio::signal_set> m_signals;
    std::atomic<std::uint64_t> m_requests{0};
    std::atomic<std::uint64_t> m_embeddingsRequests{0}; // POST /v1/embeddings (not in m_requests)
    std::atomic<std::uint64_t> m_embeddingsInputs{0};
    // Streams (GET /stats): sent to the end, dropped on purpose, ended early because the client left.
    std::atomic<std::uint64_t> m_streamsCompleted{0};
    std::atomic<std::uint64_t> m_streamsAborted{0};
    std::atomic<std::uint64_t> m_streamsCancelled{0};
    std::mutex m_rngMutex;
    std::mt19937_64 m_rng;
};

} // namespace l0l3
