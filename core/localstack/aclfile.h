#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <utility>

namespace l0l3 {

// packaging/redis/users.acl rendered for one set of passwords: each
// @NAME_SHA256@ placeholder becomes the SHA-256 hex of the password of user
// "name" (Redis ACL `#<hash>` syntax), comment and blank lines are dropped
// (as scripts/render-acl.sh does). Used by the demo launcher and the test
// fixtures, so both load exactly the users production loads.
class AclFile
{
public:
    void setPassword(const QString &user, const QString &password);
    // An operator: rendered as "user op-NAME on #HASH" plus the rules of the
    // template line "user role-ROLE off ..." (as `l0l3-ctl operators add`
    // applies them), right after that line. A role without a template line
    // fails render().
    void addOperator(const QString &name, const QString &role, const QString &password);

    // The rendered text, or empty and a reason in *error (a placeholder
    // without a password, so no user is ever left with a literal hash).
    QByteArray render(const QByteArray &templateText, QString *error = nullptr) const;
    // Renders templatePath into path, readable by the owner only.
    bool write(const QString &templatePath, const QString &path, QString *error = nullptr) const;

    static QByteArray passwordHash(const QString &password);
    // 48 hex digits from the system RNG: safe in redis:// URLs, config files
    // and ACL lines without escaping.
    static QString randomPassword();

private:
    QList<std::pair<QString, QString>> m_passwords;
    struct Operator
    {
        QString name;
        QString role;
        QString password;
    };
    QList<Operator> m_operators;
};

} // namespace l0l3
