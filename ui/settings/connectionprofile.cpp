#include "ui/settings/connectionprofile.h"

#include <QUrl>

namespace l0l3 {

bool ConnectionProfile::isValid(QString *error) const
{
    if (name.trimmed().isEmpty()) {
        if (error)
            *error = QStringLiteral("the profile needs a name");
        return false;
    }
    const QUrl url(primaryUrl);
    if (!url.password().isEmpty()) {
        if (error)
            *error = QStringLiteral("put the password in the password field, not in the URL: "
                                    "profiles are saved to disk, passwords only to the keychain");
        return false;
    }
    return toOptions({}, error).has_value();
}

std::optional<RedisConnection::Options> ConnectionProfile::toOptions(const QString &password, QString *error) const
{
    auto options = RedisConnection::Options::fromUrl(primaryUrl.trimmed(), error);
    if (!options)
        return std::nullopt;
    if (!user.isEmpty())
        options->user = user.toUtf8();
    options->password = password.toUtf8();
    return options;
}

} // namespace l0l3
