#pragma once

#include <QByteArray>
#include <QString>

namespace l0l3 {

// Writes content to path atomically, readable by the owner only from the
// moment the file exists (created with mode 0600, never chmod'ed after
// writing): for files that hold passwords or their hashes (redis.conf,
// users.acl). A file already at path is replaced, not rewritten in place.
bool writePrivateFile(const QString &path, const QByteArray &content, QString *error = nullptr);

} // namespace l0l3
