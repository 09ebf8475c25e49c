package sim

import (
	"sort"
	"strings"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// templates are the notification texts by template and locale; {name} is
// replaced by the parameter of that name.
func templates() map[string][2]string { // [zh-CN, en]
	return map[string][2]string{
		"ineligible":               {"您的退货申请未通过：{reason}", "Your return request is not eligible: {reason}"},
		"declined":                 {"很抱歉，您的退货申请被拒绝：{reason}", "Sorry, your return was declined: {reason}"},
		"info_requested":           {"客服需要更多信息，请在 {answer_by} 前回复", "Support needs more information; please answer by {answer_by}"},
		"info_reminder":            {"提醒：请在 {answer_by} 前补充信息", "Reminder: please answer by {answer_by}"},
		"choose_shipping":          {"请在 {answer_by} 前选择上门取件或自行寄回", "Please choose pickup or drop-off by {answer_by}"},
		"shipping_choice_reminder": {"提醒：请在 {answer_by} 前选择寄回方式", "Reminder: choose how to send the item back by {answer_by}"},
		"label_ready":              {"退货面单已生成（{tracking}），请在 {ship_by} 前寄出至 {return_address}", "Your return label {tracking} is ready; ship by {ship_by} to {return_address}"},
		"pickup_reminder":          {"提醒：快递将于 {ship_by} 前上门取件", "Reminder: the carrier picks up before {ship_by}"},
		"dropoff_reminder":         {"提醒：请在 {ship_by} 前寄出包裹", "Reminder: drop the parcel off before {ship_by}"},
		"shipping_overdue":         {"寄回已超时，{expires_at} 后退货将失效", "Your return is overdue and expires at {expires_at}"},
		"expired":                  {"您的退货已失效：{why}", "Your return has expired: {why}"},
		"cancelled":                {"您的退货已取消", "Your return was cancelled"},
		"out_of_stock":             {"{sku} 暂时缺货（预计补货 {restock_eta}），可选：等待、换其他款式（{alternatives}）、退款或店铺余额；{answer_by} 前未选择将默认 {default}", "{sku} is out of stock (restock {restock_eta}). Choose: wait, another variant ({alternatives}), refund or store credit; by {answer_by} we apply {default}"},
		"choice_reminder":          {"提醒：请在 {answer_by} 前选择换货方案", "Reminder: choose your exchange option by {answer_by}"},
		"replacement_shipped":      {"换货商品 {sku} 已发出，运单号 {tracking}", "Your replacement {sku} has shipped: {tracking}"},
		"inspection_failed":        {"商品 {line_id} 质检未通过：{note}。可选：{options}", "Item {line_id} did not pass inspection: {note}. Your options: {options}"},
		"reason_reclassified":      {"质检结果：{line_id} 的退货原因由 {from} 更正为 {to}（{note}），相应费用已调整", "Inspection changed the reason for {line_id} from {from} to {to} ({note}); fees follow the new reason"},
		"refunded":                 {"已退款 {amount}（扣除费用 {fees}）", "Refunded {amount} (fees {fees})"},
		"reshipped":                {"缺件 {sku} 已补发，运单号 {tracking}", "The missing {sku} has been sent: {tracking}"},
		"repair_shipped":           {"维修完成，{sku} 已寄回，运单号 {tracking}", "Repaired {sku} is on its way back: {tracking}"},
		"completed":                {"退货已完成，退款合计 {refund_total}。欢迎在 {survey_until} 前评价本次服务", "Your return is complete, refunded {refund_total}. Tell us how we did by {survey_until}"},
	}
}

// Render fills a notification's template in its locale; support and quality
// notices, and unknown templates, list their parameters.
func Render(n activities.Notification) string {
	t, ok := templates()[n.Template]
	if !ok || n.To != activities.ToCustomer {
		keys := make([]string, 0, len(n.Params))
		for k := range n.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := []string{"[" + n.RMAID + "] " + n.Template}
		for _, k := range keys {
			parts = append(parts, k+"="+n.Params[k])
		}
		return strings.Join(parts, " ")
	}
	text := t[0]
	if n.Locale == domain.LocaleEN {
		text = t[1]
	}
	for k, v := range n.Params {
		text = strings.ReplaceAll(text, "{"+k+"}", v)
	}
	return text
}
