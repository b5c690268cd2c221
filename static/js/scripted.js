// Runs in <head>, before the page is drawn: styles that need JavaScript (the collapsed menu, tables as
// cards, date fields shown per ticked condition) apply only under html.js, so the page works without it.
document.documentElement.classList.add("js");
