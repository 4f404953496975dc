"""Chinese labels for the Segments page: segment, tier and cluster names, charts, takeaways."""

ZH = {
    # RFM segments
    "Champions": "冠军客户",
    "Loyal": "忠诚客户",
    "Potential Loyalist": "潜在忠诚客户",
    "New": "新客户",
    "Promising": "有潜力的新客",
    "Need Attention": "需要关注",
    "About to Sleep": "即将沉睡",
    "At Risk": "有流失风险",
    "Cannot Lose Them": "不能失去的客户",
    "Hibernating": "休眠客户",
    "Lost": "已流失",
    "Other": "其他",
    "Not yet a customer": "尚未成为客户",
    "All customers": "全部客户",
    # Value tiers
    "Diamond": "钻石",
    "Gold": "黄金",
    "Silver": "白银",
    "Bronze": "青铜",
    # Cluster names
    "High-value": "高价值",
    "Active": "活跃",
    "Potential": "有潜力",
    "Silent majority": "沉默的大多数",
    "At risk": "有流失风险",
    "Dormant": "沉睡",
    "One-off": "一次性购买",
    "Mixed": "混合",
    # Page
    "Segments": "客户分群",
    "Who your customers are, which groups matter, and how customers move between them.": (
        "客户是谁、哪些群体最重要、客户如何在群体之间流动。"
    ),
    "As of": "截至日期",
    "RFM segments": "RFM 分群",
    "Value tiers": "价值层级",
    "Clusters": "聚类",
    "Price sensitivity": "价格敏感度",
    "Migration": "分群迁移",
    "Segment rules": "分群规则",
    "Segment profiles": "分群画像",
    "Customers of a segment": "分群客户明细",
    "Segment": "分群",
    "Tier": "价值层级",
    "Cluster": "聚类",
    "{n} customers, highest revenue first.": "共 {n} 位客户，按收入从高到低排列。",
    "Diamond: top %": "钻石：前 %",
    "Gold: top %": "黄金：前 %",
    "Silver: top %": "白银：前 %",
    "Choose k by silhouette": "按轮廓系数自动选择 k",
    "Number of clusters (k)": "聚类数 (k)",
    "Extra features": "附加特征",
    "avg_order_value": "平均订单金额",
    "tenure_days": "客户时长（天）",
    "returns": "退货次数",
    "avg_interpurchase_days": "平均购买间隔（天）",
    "discount_share": "折扣订单占比",
    "This dataset has no discounts, so price sensitivity cannot be measured.": (
        "该数据集没有折扣信息，无法衡量价格敏感度。"
    ),
    "The transactions have no discount values, so price sensitivity cannot be measured.": (
        "交易数据没有折扣值，无法衡量价格敏感度。"
    ),
    "The transactions have no discount values.": "交易数据没有折扣值。",
    "Migration needs purchases on at least two dates.": "分群迁移需要至少两个日期的购买记录。",
    "Compare with": "对比日期",
    "Each row gives R, F and M score ranges (1-5, 5 = best). The first matching row names the "
    "customer; customers matching no row are 'Other'.": (
        "每行给出 R、F、M 的评分范围（1-5，5 为最好）。客户按第一条匹配的规则命名；"
        "不匹配任何规则的客户归为“其他”。"
    ),
    "{n} score combinations match no rule (shown as Other), e.g. {cells}.": (
        "有 {n} 个评分组合不匹配任何规则（显示为“其他”），例如 {cells}。"
    ),
    "Save rules": "保存规则",
    "R from": "R 最小",
    "R to": "R 最大",
    "F from": "F 最小",
    "F to": "F 最大",
    "M from": "M 最小",
    "M to": "M 最大",
    "Restore default rules": "恢复默认规则",
    "Upload a transactions file on the Data page to enable segments (the dataset has no "
    "'transactions' table).": "请在“数据”页面上传交易文件以启用客户分群（数据集中没有交易表）。",
    # Charts
    "Share of customers": "客户占比",
    "Share of revenue": "收入占比",
    "% of all customers / of all revenue": "占全部客户 / 全部收入的百分比",
    "Segment size: customers and revenue": "分群规模：客户数与收入",
    "Value tiers: customers and revenue": "价值层级：客户数与收入",
    "Mean revenue": "平均收入",
    "R %{y}, F %{x}: mean revenue %{z:,.0f}": "R %{y}，F %{x}：平均收入 %{z:,.0f}",
    "Frequency score (F)": "频次评分 (F)",
    "Recency score (R, 5 = most recent)": "近度评分（R，5 = 最近）",
    "R x F grid: mean revenue per customer": "R × F 网格：每位客户的平均收入",
    "Silhouette": "轮廓系数",
    "k in use": "当前使用的 k",
    "Mean silhouette (higher is better)": "平均轮廓系数（越高越好）",
    "Choosing k: silhouette by number of clusters": "选择 k：不同聚类数的轮廓系数",
    "Days since last purchase": "距上次购买天数",
    "Revenue": "收入",
    "Orders": "订单数",
    "Revenue (log scale)": "收入（对数刻度）",
    "Customer clusters: recency and revenue": "客户聚类：近度与收入",
    "random sample of {n}": "随机抽样 {n} 位",
    "Orders on discount": "折扣订单",
    "% of orders with a discount": "使用折扣的订单占比",
    "Price sensitivity: orders bought on discount": "价格敏感度：使用折扣购买的订单",
    "Segment migration": "分群迁移",
    "Segment migration: {start} → {end}": "分群迁移：{start} → {end}",
    "{n} without net revenue not shown": "另有 {n} 位无净收入的客户未显示",
    # Takeaways
    "{segment} are {customers} of customers and {revenue} of revenue.": (
        "{segment}占客户的 {customers}，贡献收入的 {revenue}。"
    ),
    "The largest segment, {segment}, is {customers} of customers but {revenue} of revenue.": (
        "最大的分群是{segment}，占客户的 {customers}，但只贡献收入的 {revenue}。"
    ),
    "{tier} customers are {customers} of customers and bring {revenue} of revenue.": (
        "{tier}客户占客户的 {customers}，贡献收入的 {revenue}。"
    ),
    "Customers scored R {r} and F {f} spend {value} on average, {ratio:.1f}x the average "
    "customer ({overall}).": (
        "R 为 {r}、F 为 {f} 的客户平均消费 {value}，是平均客户（{overall}）的 {ratio:.1f} 倍。"
    ),
    "k = {k} separates customers best (silhouette {s:.2f}).": (
        "k = {k} 时客户区分得最好（轮廓系数 {s:.2f}）。"
    ),
    "k = {k} was set by hand (silhouette {s:.2f}); k = {best} separates customers best "
    "({sb:.2f}).": "k = {k} 为手动设定（轮廓系数 {s:.2f}）；k = {best} 时区分得最好（{sb:.2f}）。",
    "Cluster {label} is {customers} of customers and brings {revenue} of revenue "
    "({orders:.1f} orders each, last purchase {days:.0f} days ago on average).": (
        "聚类 {label} 占客户的 {customers}，贡献收入的 {revenue}"
        "（人均 {orders:.1f} 单，平均 {days:.0f} 天前最后一次购买）。"
    ),
    "The largest, {label}, is {customers} of customers with {orders:.1f} orders each.": (
        "最大的聚类 {label} 占客户的 {customers}，人均 {orders:.1f} 单。"
    ),
    "{segment} buy on discount most often: {share} of their orders (all customers "
    "{overall}); {low} least ({low_share}).": (
        "{segment}最常使用折扣：{share} 的订单使用了折扣（全部客户为 {overall}）；"
        "{low}最少（{low_share}）。"
    ),
    "Discounted orders are {ratio:.2f}x the size of full-price ones.": (
        "折扣订单的金额是原价订单的 {ratio:.2f} 倍。"
    ),
    "{share} of existing customers kept their segment.": "{share} 的老客户保持在原分群。",
    "The largest move: {a} → {b} ({n} customers).": "最大的迁移：{a} → {b}（{n} 位客户）。",
    "{n} customers are new since the start date.": "自对比日期以来新增 {n} 位客户。",
    # Profile tables
    "Customer": "客户",
    "RFM score": "RFM 评分",
    "First purchase": "首次购买",
    "Last purchase": "最近购买",
    "Customers": "客户数",
    "% of customers": "客户占比 (%)",
    "% of revenue": "收入占比 (%)",
    "Average order value": "平均订单金额",
    "Days since last purchase (mean)": "距上次购买天数（平均）",
    "Orders per customer": "人均订单数",
    "Revenue per customer": "人均收入",
    "% of orders on discount": "折扣订单占比 (%)",
    "AOV with discount": "折扣订单平均金额",
    "AOV at full price": "原价订单平均金额",
    "Discounted / full-price AOV": "折扣 / 原价订单金额比",
    "% deal seekers": "折扣偏好客户占比 (%)",
}
