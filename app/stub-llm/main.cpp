#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "app/stub-llm/stubllm.h"
#include "core/gateway/tlscontext.h"

using namespace l0l3;

namespace {

int usage(FILE *out, int code)
{
    std::fputs(
        "Usage: l0l3-stub-llm --listen HOST:PORT [--latency-ms N] [--ttft-ms N] [--jitter-ms N] [--fail-rate F] [--seed N]\n"
        "                     [--fail-status CODE] [--retry-after S] [--threads N]\n"
        "                     [--tls-cert FILE --tls-key FILE]\n"
        "                     [--embeddings-dimension N] [--embeddings-latency-ms N] [--embeddings-fail-rate F]\n"
        "Test equipment: an OpenAI-compatible fake upstream (POST /v1/chat/completions, GET /healthz,\n"
        "GET /stats, POST /admin/fail-rate with a number from 0 to 1). Answers are derived\n"
        "deterministically from the last user message.\n"
        "--ttft-ms N: a stream's (stream: true) first event comes after N ms, the others are spread\n"
        "over --latency-ms; GET /stats counts streams completed, aborted and cancelled. A prompt with\n"
        "[stub:abort-stream] drops the connection halfway through its stream; one with\n"
        "[stub:tool-call] streams a tool call.\n"
        "--fail-rate F: that share (0 to 1) of chat requests fail, drawn from --seed: 1 fails every\n"
        "request, deterministically. --fail-status CODE: their status (400 to 599, default 500), with\n"
        "an OpenAI-shaped error body. --retry-after S: a 429 or 503 failure carries Retry-After: S.\n"
        "--tls-cert FILE, --tls-key FILE: serve HTTPS (TLS 1.2 or later) with this PEM certificate\n"
        "chain and private key; both or neither.\n"
        "POST /v1/embeddings (OpenAI format: \"input\" a string or an array of strings, \"model\",\n"
        "optional \"dimensions\"): the embedded lexical provider's vectors (LexicalEmbedder), as\n"
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[...]}],\n"
        "\"model\",\"usage\"}; deterministic, so tests can compute the same vectors. Not counted\n"
        "in GET /stats \"requests\" (see \"embeddings_requests\", \"embeddings_inputs\").\n"
        "--embeddings-dimension N: a power of two from 64 to 2048 (default 256).\n"
        "--embeddings-latency-ms N: each embeddings answer (or failure) comes after N ms.\n"
        "--embeddings-fail-rate F: that share (0 to 1) of embeddings requests fail with --fail-status.\n",
        out);
    return code;
}

template<typename T>
bool number(std::string_view s, T *out)
{
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

} // namespace

int main(int argc, char **argv)
{
    std::signal(SIGPIPE, SIG_IGN);
    StubLlm::Options options;
    bool haveListen = false;
    std::string tlsCert;
    std::string tlsKey;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help")
            return usage(stdout, 0);
        std::string_view value;
        if (const auto eq = arg.find('='); eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            std::fprintf(stderr, "l0l3-stub-llm: option %s needs a value\n", argv[i]);
            return 2;
        }
        bool ok = true;
        if (arg == "--listen") {
            const auto colon = value.rfind(':');
            unsigned port = 0;
            ok = colon != std::string_view::npos && colon > 0 && number(value.substr(colon + 1), &port)
                && port <= 65535;
            if (ok) {
                options.host = std::string(value.substr(0, colon));
                options.port = static_cast<std::uint16_t>(port);
                haveListen = true;
            }
        } else if (arg == "--latency-ms") {
            ok = number(value, &options.latencyMs) && options.latencyMs >= 0;
        } else if (arg == "--ttft-ms") {
            ok = number(value, &options.ttftMs) && options.ttftMs >= 0;
        } else if (arg == "--jitter-ms") {
            ok = number(value, &options.jitterMs) && options.jitterMs >= 0;
        } else if (arg == "--fail-rate") {
            char *end = nullptr;
            const std::string text(value);
            options.failRate = std::strtod(text.c_str(), &end);
            ok = !text.empty() && end && *end == '\0' && options.failRate >= 0 && options.failRate <= 1;
        } else if (arg == "--fail-status") {
            ok = number(value, &options.failStatus) && options.failStatus >= 400 && options.failStatus <= 599;
        } else if (arg == "--retry-after") {
            ok = number(value, &options.retryAfterS) && options.retryAfterS >= 0;
        } else if (arg == "--embeddings-dimension") {
            int &d = options.embeddingsDimension;
            ok = number(value, &d) && d >= 64 && d <= 2048 && (d & (d - 1)) == 0;
        } else if (arg == "--embeddings-latency-ms") {
            ok = number(value, &options.embeddingsLatencyMs) && options.embeddingsLatencyMs >= 0;
        } else if (arg == "--embeddings-fail-rate") {
            char *end = nullptr;
            const std::string text(value);
            options.embeddingsFailRate = std::strtod(text.c_str(), &end);
            ok = !text.empty() && end && *end == '\0' && options.embeddingsFailRate >= 0
                && options.embeddingsFailRate <= 1;
        } else if (arg == "--seed") {
            ok = number(value, &options.seed);
        } else if (arg == "--tls-cert") {
            tlsCert = std::string(value);
            ok = !tlsCert.empty();
        } else if (arg == "--tls-key") {
            tlsKey = std::string(value);
            ok = !tlsKey.empty();
        } else if (arg == "--threads") {
            ok = number(value, &options.threads) && options.threads >= 1 && options.threads <= 64;
        } else {
            std::fprintf(stderr, "l0l3-stub-llm: unknown option %.*s (see --help)\n", static_cast<int>(arg.size()),
                         arg.data());
            return 2;
        }
        if (!ok) {
            std::fprintf(stderr, "l0l3-stub-llm: invalid value for %.*s\n", static_cast<int>(arg.size()), arg.data());
            return 2;
        }
    }
    if (!haveListen) {
        std::fputs("l0l3-stub-llm: missing --listen HOST:PORT\n", stderr);
        return 2;
    }
    if (tlsCert.empty() != tlsKey.empty()) {
        std::fputs("l0l3-stub-llm: --tls-cert and --tls-key go together\n", stderr);
        return 2;
    }
    std::string error;
    if (!tlsCert.empty()) {
        options.tls = TlsContext::server(tlsCert, tlsKey, &error);
        if (!options.tls) {
            std::fprintf(stderr, "l0l3-stub-llm: %s\n", error.c_str());
            return 1;
        }
    }
    StubLlm stub(options);
    if (!stub.start(&error)) {
        std::fprintf(stderr, "l0l3-stub-llm: %s\n", error.c_str());
        return 1;
    }
    std::printf("l0l3-stub-llm listening on %s:%u%s\n", options.host.c_str(), static_cast<unsigned>(stub.port()),
                options.tls ? " (https)" : "");
    std::fflush(stdout);
    stub.run();
    return 0;
}
