#include "core/control/redisreply.h"

#include <hiredis/hiredis.h>

#include "core/common/hiredisarena.h"

namespace l0l3 {

void HiredisReplyDeleter::operator()(redisReply *reply) const
{
    HiredisArena::release(reply);
}

RedisReply RedisReply::fromHiredis(const redisReply *reply)
{
    RedisReply out;
    if (!reply)
        return localError("connection lost");
    switch (reply->type) {
    case REDIS_REPLY_STRING:
        out.type = Type::String;
        out.str = QByteArray(reply->str, qsizetype(reply->len));
        break;
    case REDIS_REPLY_STATUS:
        out.type = Type::Status;
        out.str = QByteArray(reply->str, qsizetype(reply->len));
        break;
    case REDIS_REPLY_ERROR:
        out.type = Type::Error;
        out.str = QByteArray(reply->str, qsizetype(reply->len));
        break;
    case REDIS_REPLY_INTEGER:
        out.type = Type::Integer;
        out.integer = reply->integer;
        break;
    case REDIS_REPLY_ARRAY:
        out.type = Type::Array;
        out.elements.reserve(qsizetype(reply->elements));
        for (size_t i = 0; i < reply->elements; ++i)
            out.elements.append(fromHiredis(reply->element[i]));
        break;
    case REDIS_REPLY_NIL:
    default: out.type = Type::Nil; break;
    }
    return out;
}

RedisReply RedisReply::localError(const QByteArray &message)
{
    RedisReply out;
    out.type = Type::Error;
    out.str = message;
    out.local = true;
    return out;
}

QByteArray RedisReply::errorCode() const
{
    if (type != Type::Error)
        return {};
    const qsizetype space = str.indexOf(' ');
    return space < 0 ? str : str.left(space);
}

long long RedisReply::toInteger(bool *ok) const
{
    if (type == Type::Integer) {
        if (ok)
            *ok = true;
        return integer;
    }
    if (type == Type::String || type == Type::Status)
        return str.toLongLong(ok);
    if (ok)
        *ok = false;
    return 0;
}

bool RedisReply::toStreamEntry(std::string *id, StreamFields *fields) const
{
    if (type != Type::Array || elements.size() != 2 || !elements[0].isString())
        return false;
    *id = elements[0].str.toStdString();
    const RedisReply &kv = elements[1];
    if (kv.type != Type::Array || kv.elements.size() % 2 != 0)
        return false;
    fields->clear();
    fields->reserve(size_t(kv.elements.size() / 2));
    for (qsizetype i = 0; i + 1 < kv.elements.size(); i += 2)
        fields->emplace_back(kv.elements[i].str.toStdString(), kv.elements[i + 1].str.toStdString());
    return true;
}

} // namespace l0l3
