#include "core/gateway/asioredisadapter.h"

#include <cerrno>
#include <cstddef>

#include <boost/asio/post.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/socket.h>

// Exported by libhiredis 0.14 (what redisAsyncHandleRead calls after reading) but not declared in its
// async.h; later versions declare it there with this signature.
extern "C" void redisProcessCallbacks(redisAsyncContext *ac);

namespace l0l3 {

namespace net = boost::asio;
using Descriptor = net::posix::stream_descriptor;

void AsioRedisAdapter::attach(net::io_context &context, redisAsyncContext *ac)
{
    auto adapter = std::make_shared<AsioRedisAdapter>(context, ac);
    adapter->m_self = adapter;
    ac->ev.data = adapter.get();
    ac->ev.addRead = &AsioRedisAdapter::addRead;
    ac->ev.delRead = &AsioRedisAdapter::delRead;
    ac->ev.addWrite = &AsioRedisAdapter::addWrite;
    ac->ev.delWrite = &AsioRedisAdapter::delWrite;
    ac->ev.cleanup = &AsioRedisAdapter::cleanup;
}

AsioRedisAdapter::AsioRedisAdapter(net::io_context &context, redisAsyncContext *ac)
    : m_context(context)
    , m_fd(context, ac->c.fd)
    , m_ac(ac)
{
}

bool AsioRedisAdapter::connected() const
{
    return m_ac && (m_ac->c.flags & REDIS_CONNECTED);
}

void AsioRedisAdapter::addRead(void *privdata)
{
    auto *self = static_cast<AsioRedisAdapter *>(privdata);
    self->m_wantRead = true;
    self->armRead();
}

void AsioRedisAdapter::delRead(void *privdata)
{
    static_cast<AsioRedisAdapter *>(privdata)->m_wantRead = false;
}

void AsioRedisAdapter::addWrite(void *privdata)
{
    auto *self = static_cast<AsioRedisAdapter *>(privdata);
    self->m_wantWrite = true;
    if (self->connected())
        self->postWrite();
    else
        self->armWrite(); // connect(2) completion is signalled by writability
}

void AsioRedisAdapter::delWrite(void *privdata)
{
    static_cast<AsioRedisAdapter *>(privdata)->m_wantWrite = false;
}

void AsioRedisAdapter::cleanup(void *privdata)
{
    auto *self = static_cast<AsioRedisAdapter *>(privdata);
    self->m_wantRead = false;
    self->m_wantWrite = false;
    self->m_ac = nullptr;
    self->m_fd.release(); // cancels pending waits; hiredis closes the fd itself
    // Pending handlers hold their own reference, so this may well not be the last.
    auto keep = std::move(self->m_self);
}

void AsioRedisAdapter::armRead()
{
    if (m_readArmed || !m_wantRead || !m_ac)
        return;
    m_readArmed = true;
    m_fd.async_wait(Descriptor::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
        self->m_readArmed = false;
        if (ec)
            return;
        self->readAvailable();
    });
}

// What redisAsyncHandleRead does (read, feed the reader, run the callbacks), with a buffer four times
// hiredis' 16 KiB: a turn's worth of GET replies usually fits one recv, and no FIONREAD is needed to
// know whether the socket was drained.
void AsioRedisAdapter::readAvailable()
{
    static thread_local char buffer[64 * 1024];
    constexpr int kMaxRounds = 64; // then let other handlers run, and come back
    int round = 0;
    for (; round < kMaxRounds && m_ac && m_wantRead; ++round) {
        if (!(m_ac->c.flags & REDIS_CONNECTED) || m_ac->c.err) {
            // The connect handshake and error paths stay hiredis' own.
            redisAsyncHandleRead(m_ac); // may free the context (cleanup clears m_ac)
            if (m_ac && (m_ac->c.flags & REDIS_CONNECTED) && !m_ac->c.err)
                continue;
            break;
        }
        const ssize_t n = ::recv(m_ac->c.fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            if (redisReaderFeed(m_ac->c.reader, buffer, static_cast<std::size_t>(n)) != REDIS_OK) {
                redisAsyncHandleRead(m_ac); // the reader is in error: hiredis reports it and disconnects
                break;
            }
            redisProcessCallbacks(m_ac); // may free the context
            if (static_cast<std::size_t>(n) < sizeof buffer)
                break; // drained
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        // End of stream or a socket error: hiredis reads it again, sets its error and disconnects.
        redisAsyncHandleRead(m_ac);
        break;
    }
    if (round == kMaxRounds && m_ac && m_wantRead) {
        // Maybe not drained, so no new edge will come: continue after the handlers queued meanwhile.
        net::post(m_context, [self = shared_from_this()] { self->readAvailable(); });
        return;
    }
    armRead();
}

void AsioRedisAdapter::armWrite()
{
    if (m_writeArmed || !m_wantWrite || !m_ac)
        return;
    m_writeArmed = true;
    m_fd.async_wait(Descriptor::wait_write, [self = shared_from_this()](boost::system::error_code ec) {
        self->m_writeArmed = false;
        if (ec || !self->m_ac || !self->m_wantWrite)
            return;
        redisAsyncHandleWrite(self->m_ac);
        self->armWrite();
    });
}

void AsioRedisAdapter::postWrite()
{
    if (m_writePosted)
        return;
    m_writePosted = true;
    net::post(m_context, [self = shared_from_this()] {
        self->m_writePosted = false;
        if (!self->m_ac || !self->m_wantWrite)
            return;
        redisAsyncHandleWrite(self->m_ac);
        self->armWrite(); // still wanted: the socket buffer is full, wait for room
    });
}

} // namespace l0l3
