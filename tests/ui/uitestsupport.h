#pragma once

#include <QByteArray>
#include <QString>
#include <QTest>

#include <memory>
#include <optional>
#include <string_view>

#include "core/common/entry.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"
#include "core/control/operatorstore.h"
#include "core/control/redisconnection.h"
#include "core/localstack/aclfile.h"
#include "tests/support/redisclient.h"
#include "tests/support/redisserver.h"
#include "ui/mainwindow.h"

// What the console's UI tests share: Redis arguments from the codecs'
// strings, entries and proposals written as the console writes them, and the
// main window opened on a primary.
namespace l0l3::test {

inline QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

// Stores e as an approved entry (SET, as the console user); false when Redis refused.
inline bool writeEntry(const RedisServer &primary, const Entry &e)
{
    RedisClient console = primary.client(QStringLiteral("console"));
    return console.set(bytes(RedisSchema::entryKey(e.key)), bytes(EntryCodec::encode(e)));
}

// The entry stored under key on server; nullopt when there is none or it does not decode.
inline std::optional<Entry> readEntry(const RedisServer &server, const QString &key)
{
    RedisClient c = server.client(QStringLiteral("console"));
    const QByteArray json = c.get(bytes(RedisSchema::entryKey(key.toStdString())));
    if (json.isNull())
        return std::nullopt;
    return EntryCodec::decode(std::string_view(json.constData(), size_t(json.size())));
}

// Appends p to the proposal stream as the console's drain appends what
// gateways put in the inbox (gateways may not XADD): the reply, a stream id
// when it worked.
inline RedisValue appendProposal(const RedisServer &primary, const Proposal &p)
{
    QList<QByteArray> argv{QByteArrayLiteral("XADD"),
                           bytes(RedisSchema::kProposals),
                           QByteArrayLiteral("MAXLEN"),
                           QByteArrayLiteral("~"),
                           QByteArray::number(RedisSchema::kProposalsMaxLen),
                           QByteArrayLiteral("*")};
    for (const auto &[field, value] : ProposalCodec::encode(p)) {
        argv.append(bytes(field));
        argv.append(bytes(value));
    }
    RedisClient console = primary.client(QStringLiteral("console"));
    return console.command(argv);
}

// Connects window with options, shows it and waits until it is exposed.
[[nodiscard]] inline bool showConnected(MainWindow &window, const RedisConnection::Options &options)
{
    window.connectWith(options, QStringLiteral("test primary"));
    window.show();
    return QTest::qWaitForWindowExposed(&window);
}

// The same as the console user of primary.
[[nodiscard]] inline bool showConnected(MainWindow &window, const RedisServer &primary)
{
    const auto options = RedisConnection::Options::fromUrl(primary.url(QStringLiteral("console")));
    return options && showConnected(window, *options);
}

// Creates the ACL user of operator name with role and password on server as
// OperatorStore does (the role's template user's rules), as the superuser;
// false when the template is missing or Redis refused.
inline bool addOperatorUser(const RedisServer &server, const QString &name, const QString &role,
                            const QString &password)
{
    RedisClient root = server.client(QStringLiteral("l0l3-superuser"));
    const RedisValue list = root.command({"ACL", "LIST"});
    for (const RedisValue &line : list.elements) {
        if (!line.str.startsWith(QByteArray("user " + OperatorStore::templateUser(role) + ' ')))
            continue;
        OperatorRecord record;
        record.name = name;
        record.role = role;
        record.passwordSha256 = AclFile::passwordHash(password);
        return root.command(OperatorStore::setUserCommand(record, OperatorStore::rulesOfAclListLine(line.str))).str
            == "OK";
    }
    return false;
}

// A main window connected to server as user (named so in the window too) and
// shown; the caller waits for what it needs.
inline std::unique_ptr<MainWindow> openConsoleAs(const RedisServer &server, const QString &user,
                                                 const QString &password)
{
    auto w = std::make_unique<MainWindow>();
    RedisConnection::Options o;
    o.host = server.host();
    o.port = server.port();
    o.user = user.toUtf8();
    o.password = password.toUtf8();
    w->connectWith(o, user);
    w->show();
    return w;
}

} // namespace l0l3::test
