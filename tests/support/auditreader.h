#pragma once

#include <QList>

#include "core/common/auditrecord.h"
#include "core/common/redisschema.h"
#include "tests/support/redisclient.h"

namespace l0l3::test {

// Every record of the audit stream that decodes (XRANGE - +), oldest first,
// read with the client's own user. Header-only: the tests that use it link
// the code that defines AuditCodec.
inline QList<AuditRecord> readAudit(RedisClient &client)
{
    const QByteArray stream(RedisSchema::kAudit.data(), qsizetype(RedisSchema::kAudit.size()));
    const RedisValue all = client.command({QByteArrayLiteral("XRANGE"), stream, "-", "+"});
    QList<AuditRecord> records;
    for (const RedisValue &e : all.elements) {
        if (e.elements.size() != 2)
            continue;
        StreamFields fields;
        for (qsizetype i = 0; i + 1 < e.elements[1].elements.size(); i += 2)
            fields.emplace_back(e.elements[1].elements[i].str.toStdString(),
                                e.elements[1].elements[i + 1].str.toStdString());
        if (auto record = AuditCodec::decode(e.elements[0].str.toStdString(), fields))
            records.append(std::move(*record));
    }
    return records;
}

} // namespace l0l3::test
