#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

struct redisAsyncContext;

namespace l0l3 {

// Drives a hiredis async context from an Asio io_context (hiredis 0.14 ships
// no Asio adapter). Lives until hiredis calls cleanup(); the fd belongs to
// hiredis, so cleanup() releases it from Asio instead of closing it.
//
// Asio registers descriptors edge-triggered and its async_wait is never
// speculative, so: reads drain the socket before re-arming (a read that does
// not fill the buffer took all there was; data arriving later raises a new
// edge), and
// once connected, writes are attempted right away (posted, which also batches
// the commands issued in one handler into one write) and only wait for
// writability when the socket is full.
class AsioRedisAdapter : public std::enable_shared_from_this<AsioRedisAdapter>
{
public:
    // Must be called before redisAsyncSetConnectCallback (hiredis arms the
    // connect detection there).
    static void attach(boost::asio::io_context &context, redisAsyncContext *ac);

    AsioRedisAdapter(boost::asio::io_context &context, redisAsyncContext *ac);

private:
    static void addRead(void *privdata);
    static void delRead(void *privdata);
    static void addWrite(void *privdata);
    static void delWrite(void *privdata);
    static void cleanup(void *privdata);

    void armRead();
    void readAvailable();
    void armWrite();
    void postWrite();
    bool connected() const;

    boost::asio::io_context &m_context;
    boost::asio::posix::stream_descriptor m_fd;
    redisAsyncContext *m_ac;
    bool m_wantRead = false;
    bool m_wantWrite = false;
    bool m_readArmed = false;
    bool m_writeArmed = false;
    bool m_writePosted = false;
    std::shared_ptr<AsioRedisAdapter> m_self; // held on behalf of hiredis until cleanup
};

} // namespace l0l3
