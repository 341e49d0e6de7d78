#pragma once

#include <QByteArray>
#include <QList>

namespace l0l3 {

// One RESP2 reply, enough for the demo's probes (PING, INFO, XLEN, ROLE, SENTINEL ...).
struct RespReply
{
    enum class Type { Status, Error, Integer, Bulk, Nil, Array };
    Type type = Type::Nil;
    QByteArray text;       // Status, Error, Bulk
    qint64 integer = 0;
    QList<RespReply> elements;

    bool isError() const { return type == Type::Error; }

    // Parses one reply from data at *pos; advances *pos. Returns false when
    // data holds only part of a reply (*pos unchanged) and sets *malformed on
    // bytes that are not RESP.
    static bool parse(const QByteArray &data, qsizetype *pos, RespReply *out, bool *malformed);
    // *N\r\n$len\r\narg\r\n... for one command.
    static QByteArray encodeCommand(const QList<QByteArray> &args);
};

} // namespace l0l3
