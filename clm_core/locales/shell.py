"""Chinese labels for the app shell: sidebar, filters, presenter mode, shared widgets."""

ZH = {
    "Filters": "筛选",
    "Date range": "日期范围",
    "Channel": "渠道",
    "Region": "地区",
    "Segment": "分群",
    "Tier": "价值层级",
    "Diamond": "钻石",
    "Gold": "黄金",
    "Silver": "白银",
    "Bronze": "青铜",
    "Filters are on: every page shows the filtered customers.": "筛选已开启：所有页面只显示筛选后的客户。",
    "Presenter mode": "演示模式",
    "Dataset": "数据集",
    "unusable file": "无法使用的文件",
}
ZH.update(
    {
        "Takeaway": "要点",
        "All": "全部",
        "Choose options": "请选择",
        "Report of this page": "本页报告",
        "CLM Lens report": "CLM Lens 报告",
        "Showing the first {n} of {total} rows; the download has every row.": "显示前 {n} 行，共 {total} 行；下载文件包含全部行。",
    }
)
