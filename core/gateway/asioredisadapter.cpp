#include "core/gateway/asioredisadapter.h"

#include <boost/asio/post.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <sys/ioctl.h>

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
        for (int round = 0; round < 64 && self->m_ac && self->m_wantRead; ++round) {
            redisAsyncHandleRead(self->m_ac); // may free the context (cleanup clears m_ac)
            int available = 0;
            if (!self->m_ac || ::ioctl(self->m_ac->c.fd, FIONREAD, &available) != 0 || available <= 0)
                break;
        }
        self->armRead();
    });
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
