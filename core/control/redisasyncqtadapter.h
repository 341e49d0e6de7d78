#pragma once

#include <QObject>

struct redisAsyncContext;
class QSocketNotifier;

namespace l0l3 {

// Drives one redisAsyncContext from the Qt event loop of the thread this
// object lives on, with QSocketNotifiers. Unlike hiredis' stock adapters/qt.h
// it survives every teardown order: the context may be freed from inside a
// notifier slot (the cleanup hook only disables notifiers and deletes them
// later), and destroying the adapter first detaches it from the context.
class RedisAsyncQtAdapter : public QObject
{
    Q_OBJECT
public:
    explicit RedisAsyncQtAdapter(QObject *parent = nullptr);
    ~RedisAsyncQtAdapter() override;

    // Installs the ev hooks on ctx. One context per adapter, once.
    bool attach(redisAsyncContext *ctx);
    // Removes the hooks and stops watching the socket; the context stays alive.
    void detach();
    bool isAttached() const { return m_ctx != nullptr; }

private:
    static void addRead(void *self);
    static void delRead(void *self);
    static void addWrite(void *self);
    static void delWrite(void *self);
    static void cleanup(void *self);

    void onReadable();
    void onWritable();
    void dropNotifiers();

    redisAsyncContext *m_ctx = nullptr;
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
};

} // namespace l0l3
