#pragma once

#include <QByteArray>
#include <QString>

namespace l0l3 {

// Writes content to path atomically, readable by the owner only: for files
// that hold passwords or their hashes (redis.conf, users.acl).
bool writePrivateFile(const QString &path, const QByteArray &content, QString *error = nullptr);

} // namespace l0l3
