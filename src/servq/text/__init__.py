"""Text analytics for Chinese and English: sentiment, aspects, issues, risk words, masking.

Modules (each usable alone):

- ``pii``: personal data found and masked (mobile and landline numbers, resident ids, bank
  cards, e-mail addresses);
- ``risk``: categorised risk words with their positions, and urgency;
- ``aspects``: service-quality aspects (attitude, speed, professionalism, price, environment,
  product) with their own polarity;
- ``sentiment``: the shipped sentiment and intent models, training and evaluation;
- ``phrases`` and ``issues``: key phrases, topics and emerging issues over time.
"""
