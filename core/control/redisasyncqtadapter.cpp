#include "core/control/redisasyncqtadapter.h"

#include <QSocketNotifier>

#include <hiredis/async.h>

namespace l0l3 {

RedisAsyncQtAdapter::RedisAsyncQtAdapter(QObject *parent)
    : QObject(parent)
{
}

RedisAsyncQtAdapter::~RedisAsyncQtAdapter()
{
    detach();
}

bool RedisAsyncQtAdapter::attach(redisAsyncContext *ctx)
{
    if (!ctx || m_ctx || ctx->ev.data)
        return false;
    m_ctx = ctx;
    ctx->ev.data = this;
    ctx->ev.addRead = &RedisAsyncQtAdapter::addRead;
    ctx->ev.delRead = &RedisAsyncQtAdapter::delRead;
    ctx->ev.addWrite = &RedisAsyncQtAdapter::addWrite;
    ctx->ev.delWrite = &RedisAsyncQtAdapter::delWrite;
    ctx->ev.cleanup = &RedisAsyncQtAdapter::cleanup;
    const qintptr fd = ctx->c.fd;
    m_read = new QSocketNotifier(fd, QSocketNotifier::Read, this);
    m_read->setEnabled(false);
    connect(m_read, &QSocketNotifier::activated, this, &RedisAsyncQtAdapter::onReadable);
    m_write = new QSocketNotifier(fd, QSocketNotifier::Write, this);
    m_write->setEnabled(false);
    connect(m_write, &QSocketNotifier::activated, this, &RedisAsyncQtAdapter::onWritable);
    return true;
}

void RedisAsyncQtAdapter::detach()
{
    if (m_ctx) {
        m_ctx->ev.data = nullptr;
        m_ctx->ev.addRead = nullptr;
        m_ctx->ev.delRead = nullptr;
        m_ctx->ev.addWrite = nullptr;
        m_ctx->ev.delWrite = nullptr;
        m_ctx->ev.cleanup = nullptr;
        m_ctx = nullptr;
    }
    dropNotifiers();
}

// The notifiers may be the sender of the slot currently running (hiredis
// frees the context from inside redisAsyncHandleRead), so they are only
// disabled here and deleted from the event loop.
void RedisAsyncQtAdapter::dropNotifiers()
{
    for (QSocketNotifier **n : {&m_read, &m_write}) {
        if (*n) {
            (*n)->setEnabled(false);
            (*n)->disconnect(this);
            (*n)->deleteLater();
            *n = nullptr;
        }
    }
}

void RedisAsyncQtAdapter::addRead(void *self)
{
    auto *a = static_cast<RedisAsyncQtAdapter *>(self);
    if (a && a->m_read)
        a->m_read->setEnabled(true);
}

void RedisAsyncQtAdapter::delRead(void *self)
{
    auto *a = static_cast<RedisAsyncQtAdapter *>(self);
    if (a && a->m_read)
        a->m_read->setEnabled(false);
}

void RedisAsyncQtAdapter::addWrite(void *self)
{
    auto *a = static_cast<RedisAsyncQtAdapter *>(self);
    if (a && a->m_write)
        a->m_write->setEnabled(true);
}

void RedisAsyncQtAdapter::delWrite(void *self)
{
    auto *a = static_cast<RedisAsyncQtAdapter *>(self);
    if (a && a->m_write)
        a->m_write->setEnabled(false);
}

// Called by hiredis right before it frees the context.
void RedisAsyncQtAdapter::cleanup(void *self)
{
    auto *a = static_cast<RedisAsyncQtAdapter *>(self);
    if (!a)
        return;
    a->m_ctx = nullptr;
    a->dropNotifiers();
}

void RedisAsyncQtAdapter::onReadable()
{
    if (m_ctx)
        redisAsyncHandleRead(m_ctx); // may free m_ctx (cleanup() clears it)
}

void RedisAsyncQtAdapter::onWritable()
{
    if (m_ctx)
        redisAsyncHandleWrite(m_ctx);
}

} // namespace l0l3
