"""Chinese labels for data without amounts (a purchase log of customers and dates)."""

ZH = {
    # clm_core.amounts.NO_AMOUNTS and each page's own sentence after it
    "This dataset has no amounts (only customers and purchase dates), so nothing is shown in money: counts, stages, retention and churn risk are.": "此数据集没有金额（只有客户和购买日期），因此不显示任何金额指标；客户数、生命周期阶段、留存和流失风险照常显示。",
    "The Overview counts every line as a purchase.": "概览将每一行都计为一次购买。",
    "Segments use the R and F scores only; value tiers need amounts.": "分群只使用 R 和 F 评分；价值层级需要金额。",
    "Customers are ranked by churn risk: value at risk needs amounts.": "客户按流失风险排序：风险价值需要金额。",
    "Cohorts show customer retention only: revenue needs amounts.": "同期群只显示客户留存：收入需要金额。",
    "The At risk rule on spend needs amounts: here it never applies.": "“风险”阶段的消费下降规则需要金额：此处不适用。",
    "Conversions are counted from the purchases; revenue only from the campaigns file.": "转化按购买记录统计；收入只来自营销活动文件。",
    # Overview
    "Purchases": "购买次数",
    "Monthly purchases and active customers": "每月购买次数与活跃客户",
    "{n} customers bought in the last {days} days, {change} vs the previous {days} days.": "最近 {days} 天有 {n} 位客户购买，较前 {days} 天 {change}。",
    "Best month: {month} with {n} active customers.": "最佳月份：{month}，活跃客户 {n} 位。",
    # Segments
    "{n} customers, most orders first.": "共 {n} 位客户，按订单数从高到低排列。",
    "Value tiers rank customers by revenue, and this dataset has no amounts.": "价值层级按收入给客户排名，而此数据集没有金额。",
    "Price sensitivity compares order values with and without a discount, and this dataset has no amounts.": "价格敏感度比较有折扣和无折扣订单的金额，而此数据集没有金额。",
    "This dataset has no amounts: there is no M score, and a rule that needs an M range (not 1 to 5) names no one.": "此数据集没有金额：没有 M 评分，需要 M 范围（非 1 到 5）的规则不会命名任何客户。",
    "Segment size: customers": "分群规模：客户数",
    "% of all customers": "占全部客户的百分比",
    "The largest segment, {segment}, is {customers} of customers with {orders:.1f} orders each.": "最大的分群是{segment}，占客户的 {customers}，人均 {orders:.1f} 笔订单。",
    "R %{y}, F %{x}: %{z:,.0f} customers": "R %{y}，F %{x}：%{z:,.0f} 位客户",
    "R x F grid: customers": "R × F 网格：客户数",
    "The most customers are scored R {r} and F {f}: {share} of customers.": "客户最多的格子是 R {r}、F {f}：占客户的 {share}。",
    "Orders (log scale)": "订单数（对数刻度）",
    "Customer clusters: recency and orders": "客户聚类：最近购买与订单数",
    "The largest cluster, {label}, is {customers} of customers with {orders:.1f} orders each, last purchase {days:.0f} days ago on average.": "最大的聚类是 {label}，占客户的 {customers}，人均 {orders:.1f} 笔订单，平均 {days:.0f} 天前最后一次购买。",
    # Churn risk
    "{n} of {total} active customers, highest churn risk first.": "{total} 位活跃客户中的 {n} 位，按流失风险从高到低排列。",
    "{share} of active customers ({n}) have a churn risk of {thr} or more.": "{share} 的活跃客户（{n} 位）流失风险达到 {thr} 或以上。",
    "the data has no amounts": "数据没有金额",
    # Campaigns
    "The planner weighs the value each action saves against its cost, and this dataset has no amounts.": "干预规划会权衡每项措施挽回的价值与成本，而此数据集没有金额。",
    "ROI n/a (no revenue recorded)": "投资回报率无法计算（未记录收入）",
    "The data has no amounts: showing the share active in the last 90 days.": "数据没有金额：改为显示最近 90 天活跃的客户占比。",
    # Customer 360
    "{orders} orders since {first}; last purchase {days} days before {as_of}.": "自 {first} 起共 {orders} 笔订单；截至 {as_of}，上次购买在 {days} 天前。",
}
