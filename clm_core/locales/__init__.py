"""Chinese translations, one module per area (``ZH = {english: chinese}``), merged by i18n."""
