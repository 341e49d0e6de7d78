#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

namespace l0l3::test {

// A Redis reply copied out of hiredis, so tests can keep and compare it.
struct RedisValue
{
    enum class Type { Nil, String, Integer, Array, Error, Status };

    Type type = Type::Nil;
    QByteArray str;             // String, Error, Status
    qint64 integer = 0;         // Integer
    QList<RedisValue> elements; // Array

    bool isNil() const { return type == Type::Nil; }
    bool isError() const { return type == Type::Error; }
    bool isString() const { return type == Type::String; }
    bool isInteger() const { return type == Type::Integer; }
    bool isArray() const { return type == Type::Array; }
    bool isStatus() const { return type == Type::Status; }

    // A readable rendering for failure messages, e.g. `ERR ...`, `"abc"`, `[1, "x"]`.
    QString toString() const;

    static RedisValue error(const QByteArray &message);
};

} // namespace l0l3::test
