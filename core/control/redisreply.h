#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QString>

#include <memory>

#include "core/common/proposal.h"

struct redisReply;

namespace l0l3 {

struct HiredisReplyDeleter
{
    void operator()(redisReply *reply) const;
};
// A reply object as RedisConnection's reader built it (in a HiredisArena),
// owned: HiredisArena::release on destruction.
using HiredisReply = std::unique_ptr<redisReply, HiredisReplyDeleter>;

// A hiredis reply copied into a value type, so it can outlive the hiredis
// callback, be stored and cross threads.
struct RedisReply
{
    enum class Type { Nil, Status, Error, Integer, String, Array };

    Type type = Type::Nil;
    QByteArray str;        // Status, Error and String payload
    long long integer = 0; // Integer payload
    QList<RedisReply> elements;
    // True when the error was produced locally (timeout, connection lost,
    // cancelled, not connected) rather than sent by the server.
    bool local = false;

    static RedisReply fromHiredis(const redisReply *reply);
    static RedisReply localError(const QByteArray &message);

    bool isNil() const { return type == Type::Nil; }
    bool isError() const { return type == Type::Error; }
    bool isArray() const { return type == Type::Array; }
    bool isInteger() const { return type == Type::Integer; }
    bool isString() const { return type == Type::String || type == Type::Status; }
    // The server's error code prefix: "NOPERM", "BUSYGROUP", "WRONGTYPE"...
    QByteArray errorCode() const;
    QString errorMessage() const { return QString::fromUtf8(str); }
    QString toString() const { return QString::fromUtf8(str); }
    // Integer replies, or String replies that hold a number (e.g. HGET).
    long long toInteger(bool *ok = nullptr) const;

    // A stream entry ([id, [field, value, ...]]) as id + field pairs; false
    // when the shape is wrong (e.g. a deleted entry with nil fields).
    bool toStreamEntry(std::string *id, StreamFields *fields) const;
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::RedisReply)
