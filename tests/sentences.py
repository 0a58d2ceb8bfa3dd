"""Small English and Russian sentence sets shared by the text-noise and training tests."""

EN = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife.",
    "There were two of them walking into the house by the sea, and their son knew it well.",
    "However little known the feelings or views of such a man may be on his first entering a neighbourhood.",
    "The meeting has been moved to Thursday afternoon because the hall is not ready.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Call me Ishmael, said the sailor as he walked down the road towards the harbour.",
]
RU = [
    "Мама мыла раму, а папа читал газету в большом городе.",
    "Сегодня хорошая погода, и мы пойдём гулять в лес.",
    "Все факты указывают на его причастность к преступлению.",
    "Учитель проверил тетради учеников и поставил оценки.",
    "Поезд отправляется в восемь часов вечера с первого пути.",
    "Вчера шёл дождь, а сегодня светит солнце и поют птицы.",
]
