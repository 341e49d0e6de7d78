#include "core/gateway/httpexchange.h"

#include "core/gateway/httpsession.h"

namespace l0l3 {

HttpExchange::HttpExchange(std::shared_ptr<HttpSession> session)
    : m_session(std::move(session))
{
}

const HttpRequest &HttpExchange::request() const
{
    return m_session->request();
}
HttpReadError HttpExchange::readError() const
{
    return m_session->readError();
}
int HttpExchange::thread() const
{
    return m_session->thread();
}
boost::asio::io_context &HttpExchange::context() const
{
    return m_session->context();
}
const boost::asio::ip::address &HttpExchange::remoteAddress() const
{
    return m_session->remoteAddress();
}
bool HttpExchange::clientConnected() const
{
    return m_session->open();
}

void HttpExchange::respond(int status, std::string_view contentType, std::string_view body,
                           std::span<const HttpHeader> headers)
{
    m_session->respond(status, contentType, body, headers);
}

void HttpExchange::beginStream(int status, std::string_view contentType, std::span<const HttpHeader> headers)
{
    m_session->beginStream(status, contentType, headers);
}

void HttpExchange::writeChunk(std::string_view data)
{
    m_session->writeChunk(data);
}
void HttpExchange::endStream()
{
    m_session->endStream();
}
void HttpExchange::abortStream()
{
    m_session->abortStream();
}
void HttpExchange::onClientGone(std::function<void()> callback)
{
    m_session->onClientGone(std::move(callback));
}

std::size_t HttpExchange::queuedBytes() const
{
    return m_session->queuedBytes();
}
void HttpExchange::onDrained(std::size_t atMost, std::function<void()> callback)
{
    m_session->onDrained(atMost, std::move(callback));
}

} // namespace l0l3
