#pragma once

#include <QByteArray>
#include <QObject>
#include <QString>

#include <functional>

namespace l0l3 {

class RedisConnection;

// Per-namespace review guidelines: Markdown an admin writes, at most
// kMaxBytes, in RedisSchema::guidelinesKey(ns); shown beside the proposal
// being reviewed. The text is untrusted (anyone with write access to the key
// wrote it): the console renders it as Markdown without HTML.
// Who may write is the ACL's business (packaging/redis/users.acl: admins).
class Guidelines
{
public:
    static constexpr qsizetype kMaxBytes = 64 * 1024;
    static constexpr qsizetype kMaxNamespaceBytes = 200;

    // Empty when ns names a namespace guidelines may be stored for
    // (1..kMaxNamespaceBytes bytes of UTF-8 without control characters), else why not.
    static QString checkNamespace(const QString &ns);
    // Empty when markdown may be stored (at most kMaxBytes of valid UTF-8), else why not.
    static QString checkText(const QByteArray &markdown);

    // GET: done(markdown, error). No guidelines is an empty text, not an
    // error; a stored value over kMaxBytes or not UTF-8 is an error.
    using ReadCallback = std::function<void(const QString &markdown, const QString &error)>;
    static void read(RedisConnection *connection, const QString &ns, QObject *context, ReadCallback done);
    // SET (DEL for an empty text): done(error), empty on success.
    using WriteCallback = std::function<void(const QString &error)>;
    static void write(RedisConnection *connection, const QString &ns, const QByteArray &markdown, QObject *context,
                      WriteCallback done);
};

} // namespace l0l3
