#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

namespace l0l3 {

class RedisConnection;

// l0l3-ctl guidelines get NS [--file F] | set NS --file F: a namespace's
// review guidelines (Guidelines, RedisSchema::guidelinesKey). get writes the
// Markdown as stored to F, or to stdout with control characters and bidi
// overrides escaped (newlines and tabs kept); set stores F (an empty file
// deletes the guidelines). Writing needs an ACL user allowed to (admins).
// done(exitCode, message): 0 ok, 1 when Redis refused or could not be read.
class GuidelinesCommand : public QObject
{
    Q_OBJECT
public:
    // args: "get NS" or "set NS". Empty when usable, else the usage error.
    static QString checkUsage(const QStringList &args, const QString &file);

    GuidelinesCommand(RedisConnection *connection, const QStringList &args, const QString &file,
                      QObject *parent = nullptr);
    void start();

signals:
    void done(int exitCode, const QString &message);

private:
    RedisConnection *m_connection;
    QStringList m_args;
    QString m_file;
};

} // namespace l0l3
