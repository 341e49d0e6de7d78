#include "ui/settings/passwordvault.h"

#include <qt6keychain/keychain.h>

namespace l0l3 {

PasswordVault::PasswordVault(const QString &service, QObject *parent)
    : QObject(parent)
    , m_service(service)
{
}

QString PasswordVault::keyFor(const QString &profile)
{
    return QStringLiteral("profile/") + profile;
}

void PasswordVault::markUnavailable(const QString &why)
{
    m_keychainUsable = false;
    if (m_warned)
        return;
    m_warned = true;
    emit backendUnavailable(tr("No keychain backend is available (%1). Passwords are kept in memory for this "
                               "session only and must be entered again next time; nothing is written to disk.")
                                .arg(why));
}

static bool isBackendProblem(QKeychain::Error e)
{
    return e == QKeychain::NoBackendAvailable || e == QKeychain::NotImplemented || e == QKeychain::OtherError
        || e == QKeychain::AccessDenied;
}

void PasswordVault::setSessionPassword(const QString &profile, const QString &password)
{
    m_session.insert(profile, password);
}

void PasswordVault::store(const QString &profile, const QString &password)
{
    m_session.insert(profile, password);
    auto *job = new QKeychain::WritePasswordJob(m_service, this);
    job->setAutoDelete(true);
    // Never fall back to a plain-text file.
    job->setInsecureFallback(false);
    job->setKey(keyFor(profile));
    job->setTextData(password);
    connect(job, &QKeychain::Job::finished, this, [this, profile](QKeychain::Job *j) {
        if (j->error() == QKeychain::NoError) {
            emit stored(profile, true, tr("Password saved in the system keychain."));
            return;
        }
        if (isBackendProblem(j->error()))
            markUnavailable(j->errorString());
        emit stored(
            profile, false,
            tr("Password not saved in the keychain (%1); kept in memory for this session.").arg(j->errorString()));
    });
    job->start();
}

void PasswordVault::load(const QString &profile)
{
    if (m_session.contains(profile)) {
        const QString password = m_session.value(profile);
        QMetaObject::invokeMethod(
            this,
            [this, profile, password] { emit loaded(profile, password, true, tr("Password from this session.")); },
            Qt::QueuedConnection);
        return;
    }
    auto *job = new QKeychain::ReadPasswordJob(m_service, this);
    job->setAutoDelete(true);
    job->setInsecureFallback(false);
    job->setKey(keyFor(profile));
    connect(job, &QKeychain::Job::finished, this, [this, profile](QKeychain::Job *j) {
        auto *read = static_cast<QKeychain::ReadPasswordJob *>(j);
        if (j->error() == QKeychain::NoError) {
            emit loaded(profile, read->textData(), true, tr("Password from the system keychain."));
            return;
        }
        if (j->error() == QKeychain::EntryNotFound) {
            emit loaded(profile, {}, false, tr("No password stored for this profile."));
            return;
        }
        if (isBackendProblem(j->error()))
            markUnavailable(j->errorString());
        emit loaded(profile, {}, false, tr("Keychain not readable: %1").arg(j->errorString()));
    });
    job->start();
}

void PasswordVault::remove(const QString &profile)
{
    m_session.remove(profile);
    auto *job = new QKeychain::DeletePasswordJob(m_service, this);
    job->setAutoDelete(true);
    job->setInsecureFallback(false);
    job->setKey(keyFor(profile));
    connect(job, &QKeychain::Job::finished, this, [this, profile](QKeychain::Job *j) {
        const bool ok = j->error() == QKeychain::NoError || j->error() == QKeychain::EntryNotFound;
        emit removed(profile, ok, ok ? QString() : j->errorString());
    });
    job->start();
}

} // namespace l0l3
