#pragma once

#include <QHash>
#include <QString>
#include <QWidget>

class QLabel;
class QPushButton;
class QTextBrowser;

namespace l0l3 {

class ControlClient;

// The review guidelines of the namespace of the proposal being reviewed
// (Guidelines, l0l3:v1:guidelines:{ns}), beside it. The Markdown is
// untrusted: it is rendered with QTextDocument::MarkdownNoHTML (HTML in it
// stays text), its control and bidi characters shown as escapes, links are
// not followed and no image or other resource is loaded. "Edit guidelines…"
// opens an editor; the write succeeds only for users the ACL lets write
// the key (admins) and says so otherwise.
class GuidelinesPane : public QWidget
{
    Q_OBJECT
public:
    explicit GuidelinesPane(ControlClient *client, QWidget *parent = nullptr);

    // Shows ns's guidelines (read once per namespace, again after an edit
    // and on reload()). Empty ns: nothing to show.
    void showNamespace(const QString &ns);
    void reload();
    QString shownNamespace() const { return m_ns; }
    QTextBrowser *view() const { return m_view; }
    // The Markdown last read for the shown namespace, as stored.
    QString markdown() const { return m_markdown.value(m_ns); }
    // Opens the editor for the shown namespace.
    void editGuidelines();
    // "Edit guidelines…": what an admin may do (RoleGate).
    QPushButton *editButton() const { return m_edit; }

signals:
    void statusMessage(const QString &message, int timeoutMs);
    // The shown namespace's guidelines were read and rendered.
    void shown(const QString &ns);

private:
    void render();
    void onRead(const QString &ns, const QString &markdown, const QString &error);

    ControlClient *m_client;
    QLabel *m_title;
    QTextBrowser *m_view;
    QPushButton *m_edit;
    QString m_ns;
    QHash<QString, QString> m_markdown; // ns -> Markdown read
    QHash<QString, QString> m_errors;   // ns -> why it could not be read
    QHash<quint64, QString> m_writes;   // request id -> ns
};

} // namespace l0l3
