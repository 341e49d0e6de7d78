#include "app/demo/respreply.h"

namespace l0l3 {

namespace {

bool readLine(const QByteArray &data, qsizetype *pos, QByteArray *line)
{
    const qsizetype end = data.indexOf("\r\n", *pos);
    if (end < 0)
        return false;
    *line = data.mid(*pos, end - *pos);
    *pos = end + 2;
    return true;
}

} // namespace

bool RespReply::parse(const QByteArray &data, qsizetype *pos, RespReply *out, bool *malformed)
{
    qsizetype p = *pos;
    if (p >= data.size())
        return false;
    const char kind = data.at(p++);
    QByteArray line;
    if (!readLine(data, &p, &line))
        return false;
    RespReply reply;
    bool ok = true;
    switch (kind) {
    case '+':
        reply.type = Type::Status;
        reply.text = line;
        break;
    case '-':
        reply.type = Type::Error;
        reply.text = line;
        break;
    case ':':
        reply.type = Type::Integer;
        reply.integer = line.toLongLong(&ok);
        break;
    case '$': {
        const qint64 length = line.toLongLong(&ok);
        if (ok && length < 0) {
            reply.type = Type::Nil;
            break;
        }
        if (!ok)
            break;
        if (data.size() - p < length + 2)
            return false;
        reply.type = Type::Bulk;
        reply.text = data.mid(p, length);
        p += length + 2;
        break;
    }
    case '*': {
        const qint64 count = line.toLongLong(&ok);
        if (ok && count < 0) {
            reply.type = Type::Nil;
            break;
        }
        if (!ok)
            break;
        reply.type = Type::Array;
        for (qint64 i = 0; i < count; ++i) {
            RespReply element;
            if (!parse(data, &p, &element, malformed))
                return false;
            reply.elements.append(element);
        }
        break;
    }
    default:
        ok = false;
    }
    if (!ok) {
        if (malformed)
            *malformed = true;
        return false;
    }
    *pos = p;
    *out = reply;
    return true;
}

QByteArray RespReply::encodeCommand(const QList<QByteArray> &args)
{
    QByteArray out = '*' + QByteArray::number(args.size()) + "\r\n";
    for (const QByteArray &arg : args)
        out += '$' + QByteArray::number(arg.size()) + "\r\n" + arg + "\r\n";
    return out;
}

} // namespace l0l3
