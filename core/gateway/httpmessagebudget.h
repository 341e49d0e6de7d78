#pragma once

#include <cstddef>
#include <exception>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

namespace l0l3 {

// Feeds buffered bytes to a Beast parser (request or response) under the
// limits Beast 1.74 leaves to its caller, for peers that are not trusted:
//  - an element Beast must hold whole before it parses it (the head, a chunk
//    size line, the trailer after the last chunk) is at most maxElementBytes
//    buffered: Beast bounds the head itself but neither chunk lines nor the
//    trailer, which would otherwise buffer without bound;
//  - a whole message (head, body with its chunk framing, trailer) is at most
//    maxMessageBytes consumed;
//  - an exception out of the parser (basic_fields throws std::length_error for
//    a field over 64 KiB, which a trailer can carry whatever the limits) is a
//    malformed message, not an unwound thread;
//  - a request whose Transfer-Encoding does not end in chunked has no
//    determinable length (RFC 9112 section 6.3): malformed, the connection must close.
// Errors are Beast's: header_limit (an element too large), buffer_overflow
// (the message too large), bad_value (the parser threw),
// bad_transfer_encoding; need_more when more bytes are needed.
class HttpMessageBudget
{
public:
    HttpMessageBudget(std::size_t maxElementBytes, std::size_t maxMessageBytes)
        : m_maxElement(maxElementBytes)
        , m_maxMessage(maxMessageBytes)
    {
    }

    void startMessage()
    {
        m_consumed = 0;
        m_headChecked = false;
    }
    // Bytes of the current message the parser consumed so far.
    std::size_t consumed() const { return m_consumed; }
    std::size_t maxMessageBytes() const { return m_maxMessage; }

    // Parses what buffer holds (consuming it) until the message is complete
    // ({}), more bytes are needed (need_more) or it failed (any other error).
    template<class Parser>
    boost::beast::error_code feed(Parser &parser, boost::beast::flat_buffer &buffer)
    {
        namespace http = boost::beast::http;
        boost::beast::error_code ec;
        while (!parser.is_done()) {
            if (buffer.size() == 0)
                return http::error::need_more;
            std::size_t used = 0;
            try {
                used = parser.put(buffer.data(), ec);
            } catch (const std::exception &) {
                return http::error::bad_value;
            }
            buffer.consume(used);
            m_consumed += used;
            if (m_consumed > m_maxMessage)
                return http::error::buffer_overflow;
            if (ec && ec != http::error::need_more)
                return ec;
            if (!m_headChecked && parser.is_header_done()) {
                m_headChecked = true;
                if (Parser::is_request::value && !headAcceptable(parser))
                    return http::error::bad_transfer_encoding;
            }
            if (used == 0 && !parser.is_done()) { // an incomplete element: Beast waits for all of it
                if (buffer.size() >= m_maxElement)
                    return http::error::header_limit;
                if (m_consumed + buffer.size() > m_maxMessage)
                    return http::error::buffer_overflow;
                return http::error::need_more;
            }
        }
        return {};
    }

private:
    template<class Parser>
    static bool headAcceptable(const Parser &parser)
    {
        // Beast treats a Transfer-Encoding whose last coding is not chunked as no
        // body at all, leaving the body's bytes to be read as the next request.
        const auto &fields = parser.get();
        return parser.chunked() || fields.find(boost::beast::http::field::transfer_encoding) == fields.end();
    }

    std::size_t m_maxElement;
    std::size_t m_maxMessage;
    std::size_t m_consumed = 0;
    bool m_headChecked = false;
};

} // namespace l0l3
