#pragma once

#include <QHash>
#include <QList>
#include <QWidget>

#include "core/control/approvalresult.h"
#include "core/control/l1review.h"

class QLabel;
class QPlainTextEdit;
class QStandardItemModel;
class QTableView;
class QTimer;

namespace l0l3 {

class ControlClient;

// "L1 review": the sampled L1 answers gateways wrote to RedisSchema::kL1Review
// (oldest first, at most L1Review::kMaxItems), polled live while the page is
// shown, with the Proposals page's keyboard flow on the table: Enter confirms
// the answer, Backspace (or D) denies it (the entry's threshold tightens), J/K
// move. Both verdicts are ApprovalService::reviewL1, audited with the
// logged-in user; the decided row leaves and the next one is selected. An
// item another console decided leaves too (the live audit tail, or
// AlreadyDecided when this console tries it).
class L1ReviewPage : public QWidget
{
    Q_OBJECT
public:
    enum Column { Time, Similarity, Region, Request, Entry, EntryKey, ColumnCount };
    static constexpr int kPollIntervalMs = 1000;

    explicit L1ReviewPage(ControlClient *client, QWidget *parent = nullptr);

    QTableView *view() const { return m_view; }
    QStandardItemModel *model() const { return m_model; }
    // Reads the queue again from its start.
    void reload();
    void confirmCurrent();
    void denyCurrent();
    void moveBy(int delta);
    const L1ReviewItem *currentItem() const;
    // The row of a review item (stream id), or -1.
    int rowOf(const QString &reviewId) const;
    // Confirm and deny, buttons and shortcuts: what an approver may do (RoleGate).
    QList<QObject *> writeControls() const { return m_writeControls; }

signals:
    void statusMessage(const QString &message, int timeoutMs);
    void writeFinished(const l0l3::ApprovalResult &result);
    // The queue was (re)loaded or grew; n items are shown.
    void loaded(int n);

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void onLoaded(const QString &afterId, const QList<L1ReviewItem> &items);
    void append(const QList<L1ReviewItem> &items);
    void removeId(const QString &id);
    void poll();
    void decideCurrent(bool confirmed);
    void updateDetail();
    void updateStatus();
    int currentRow() const;

    ControlClient *m_client;
    QStandardItemModel *m_model;
    QTableView *m_view;
    QLabel *m_status;
    QPlainTextEdit *m_detail;
    QTimer *m_poll;
    QList<L1ReviewItem> m_items; // by row of m_model (oldest first)
    QString m_lastId;            // the newest id read: the next poll reads after it
    bool m_loading = false;      // a read is in flight: the next poll waits
    bool m_loadedOnce = false;
    QHash<quint64, QString> m_inFlight; // request id -> review id
    QList<QObject *> m_writeControls;
};

} // namespace l0l3
