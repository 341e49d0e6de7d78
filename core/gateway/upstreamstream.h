#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/gateway/upstreamclient.h"

namespace l0l3 {

struct UpstreamTarget;

// What a streamed chat completion (OpenAI chat.completion.chunk SSE events)
// says, event by event: the assistant's text assembled from the deltas of
// choice 0, the usage chunk, and whether the stream is a plain-text
// single-choice answer that completed normally (finish_reason "stop", then
// data: [DONE]). Untrusted input: the JSON is parsed without exceptions, the
// assembled text is bounded.
class SseAnswer
{
public:
    enum class Kind {
        Forward, // a well-formed event (a chunk, a comment, an error object): pass it on
        Done,    // data: [DONE]
        Invalid, // data that is not JSON: never passed on
    };

    explicit SseAnswer(std::size_t maxContentBytes);
    ~SseAnswer();

    // One event's text, up to and including the blank line that ends it.
    Kind add(std::string_view event);

    // Completed normally, with plain text of choice 0 alone, within the bound.
    bool proposable() const;
    const std::string &content() const { return m_content; }
    std::string takeContent() { return std::move(m_content); }
    std::int64_t promptTokens() const { return m_promptTokens; }
    std::int64_t completionTokens() const { return m_completionTokens; }
    bool done() const { return m_done; }

private:
    struct Json;
    std::unique_ptr<Json> m_json;
    std::size_t m_maxContentBytes;
    std::string m_data; // the data lines of the event being read
    std::string m_content;
    std::string m_finishReason; // choice 0's
    std::int64_t m_promptTokens = 0;
    std::int64_t m_completionTokens = 0;
    bool m_done = false;
    bool m_notText = false; // tool calls, function call, refusal, another choice, an error object
    bool m_tooLong = false;
};

// Streamed chat completions (stream: true) from the OpenAI-compatible
// upstream, plain or over TLS, one per io_context thread. Each call has a
// connection of its own, closed when the stream ends: a stream is long, its
// connection is never reused (not even after [DONE]) and never taken from
// UpstreamClient's pool, and cancelling it (the client went away) is closing
// it, which the upstream sees as a cancelled generation.
//
// Events are delivered one by one as their blank line arrives; nothing more
// than the event being read is held. The consumer can pause() reading while
// it cannot pass events on (a slow client). Bounds: the whole body (maxResponseBytes,
// as for buffered calls), each event (maxEventBytes), the response head;
// timeouts: connect and TLS handshake (connectTimeoutMs), the wait for the
// head and for each further read (idleTimeoutMs), and the whole call
// (totalTimeoutMs).
class UpstreamStreamer
{
public:
    struct Options
    {
        UpstreamClient::Options upstream; // host, port, TLS, basePath, connect timeout, body budget
        int idleTimeoutMs = 30000;
        int totalTimeoutMs = 600000;
        std::size_t maxEventBytes = 1u << 20; // at most upstream.maxResponseBytes
    };

    enum class End {
        Truncated, // the body or the connection ended before data: [DONE]
        Timeout,   // idle or total timeout
        Oversize,  // an event or the whole body is over its bound
        Failed,    // a transport error after the head
    };

    struct Handler
    {
        // Instead of a stream: what a buffered call would have reported (a failure before the head,
        // a status other than 200, or a 200 that is not text/event-stream, with its body).
        std::function<void(UpstreamClient::Result)> answered;
        // A 200 text/event-stream head arrived: events follow.
        std::function<void()> started;
        // One whole event, its raw bytes up to and including the blank line. Returning false stops
        // the call (the connection is closed); nothing else is called then.
        std::function<bool(std::string_view event)> event;
        // The stream ended without the handler stopping it; why, for logs.
        std::function<void(End end, std::string why)> ended;
    };

    class Call;

    UpstreamStreamer(boost::asio::io_context &context, Options options);
    ~UpstreamStreamer();

    // body is sent as is (it asks for stream: true). The handler is called on this thread.
    std::shared_ptr<Call> post(std::string body, std::string_view authorization, Handler handler);
    // Closes the call's connection; no handler runs afterwards. Harmless after the end.
    static void cancel(const std::shared_ptr<Call> &call);
    // Backpressure: after pause() the call posts no further read on the upstream connection (the
    // events of what was read already are still delivered), so a slow consumer makes the upstream's
    // TCP window, not this process, hold the rest; resume() reads again. While paused the idle
    // timeout does not run, the total timeout does. Harmless after the end.
    static void pause(const std::shared_ptr<Call> &call);
    static void resume(const std::shared_ptr<Call> &call);

private:
    boost::asio::io_context &m_context;
    Options m_options;
    std::unique_ptr<UpstreamTarget> m_target;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace l0l3
