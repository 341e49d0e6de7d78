#include "tests/support/redisvalue.h"

#include <QStringList>

namespace l0l3::test {

QString RedisValue::toString() const
{
    switch (type) {
    case Type::Nil: return QStringLiteral("(nil)");
    case Type::String: return u'"' + QString::fromUtf8(str) + u'"';
    case Type::Integer: return QString::number(integer);
    case Type::Error: return QStringLiteral("(error) ") + QString::fromUtf8(str);
    case Type::Status: return QString::fromUtf8(str);
    case Type::Array: {
        QStringList parts;
        for (const RedisValue &element : elements)
            parts << element.toString();
        return u'[' + parts.join(QStringLiteral(", ")) + u']';
    }
    }
    return {};
}

RedisValue RedisValue::error(const QByteArray &message)
{
    RedisValue value;
    value.type = Type::Error;
    value.str = message;
    return value;
}

} // namespace l0l3::test
