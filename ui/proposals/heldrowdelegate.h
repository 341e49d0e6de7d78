#pragma once

#include <QStyledItemDelegate>

#include <functional>

namespace l0l3 {

// Draws the queue's rows that another operator's reservation covers in the
// disabled text colour and italic, with "Held by op-anna until 14:05 …" as
// their tooltip. holderOf(index) gives that text, empty for a free row.
class HeldRowDelegate : public QStyledItemDelegate
{
    Q_OBJECT
public:
    using HolderOf = std::function<QString(const QModelIndex &)>;
    explicit HeldRowDelegate(HolderOf holderOf, QObject *parent = nullptr);

    QString holderAt(const QModelIndex &index) const { return m_holderOf(index); }
    bool helpEvent(QHelpEvent *event, QAbstractItemView *view, const QStyleOptionViewItem &option,
                   const QModelIndex &index) override;

protected:
    void initStyleOption(QStyleOptionViewItem *option, const QModelIndex &index) const override;

private:
    HolderOf m_holderOf;
};

} // namespace l0l3
