#pragma once

#include <QObject>
#include <QString>

#include <functional>

namespace l0l3 {

class ControlClient;

// The confirmation of an edit or a revocation with its blast radius: first
// the gateways' served counters of the entry (ServedCounts, read on the
// worker thread), then a message box that says how many requests it answered
// per region in the last hours and asks to confirm. onConfirmed runs when the
// operator accepts; nothing runs when they cancel. The box is named
// "blastRadiusConfirm" (tests find it) and shows every string as plain text.
class BlastRadiusPrompt : public QObject
{
    Q_OBJECT
public:
    struct Request
    {
        QString key;
        QString title;    // "Revoke entry"
        QString question; // "Revoke version 3 of this entry? ..."
        QString confirmText;
        bool confirmIsDefault = false; // Enter confirms (the re-verify queue's keyboard flow)
    };

    // Parented to parentWidget; deletes itself once answered.
    static void ask(ControlClient *client, QWidget *parentWidget, const Request &request,
                    std::function<void()> onConfirmed);

private:
    BlastRadiusPrompt(ControlClient *client, QWidget *parentWidget, const Request &request,
                      std::function<void()> onConfirmed);
    void show(const QString &radius);

    QWidget *m_parentWidget;
    Request m_request;
    std::function<void()> m_onConfirmed;
    quint64 m_requestId = 0;
};

} // namespace l0l3
