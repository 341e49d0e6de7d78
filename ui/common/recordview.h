#pragma once

#include <QAbstractItemView>
#include <QKeySequence>
#include <QList>

#include <functional>

class QAction;
class QLayout;
class QPushButton;
class QTableView;

namespace l0l3 {

// The set-up every page's list of records shares: whole rows selected, read
// only, no row numbers, the last column taking the rest of the width.
void setUpRecordView(QTableView *view, QAbstractItemView::SelectionMode mode = QAbstractItemView::SingleSelection);

// One command of a keyboard-driven queue page: an action on the view whose
// shortcuts act while the view has focus (the page installs
// LocalShortcutFilter once all are added), and a button doing the same. Both
// carry the tip followed by the first shortcut.
struct RecordCommand
{
    QAction *action = nullptr;
    QPushButton *button = nullptr;

    QList<QObject *> controls() const;
};

RecordCommand addRecordCommand(QWidget *page, QAbstractItemView *view, const QString &text,
                               const QList<QKeySequence> &keys, const QString &tip, const std::function<void()> &slot);

// Lays a record page out: the row of controls on top, under it the view over
// its detail pane, three to one.
void layOutRecordPage(QWidget *page, QLayout *top, QWidget *view, QWidget *detail);

} // namespace l0l3
