import type { ChatMessage } from '../../src/sgt/index.js';

/**
 * Twenty varied chat prompts (languages, code, numbers, emoji, multi-turn, system prompts) for
 * measuring how much of a prompt the nearest-neighbour attack recovers.
 */
export const SAMPLE_CONVERSATIONS: readonly (readonly ChatMessage[])[] = [
  [{ role: 'user', content: 'What is the capital of France?' }],
  [
    { role: 'system', content: 'You are a concise assistant.' },
    { role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' },
  ],
  [{ role: 'user', content: 'Write a Python function that returns the n-th Fibonacci number using memoisation.' }],
  [
    {
      role: 'user',
      content: 'My patient, John Smith (DOB 1974-03-12), has a blood pressure of 150/95. What should I check next?',
    },
  ],
  [{ role: 'user', content: 'Translate into German: "The meeting is postponed until next Thursday at 3 pm."' }],
  [{ role: 'user', content: '日本の首都はどこですか？そして人口はどれくらいですか？' }],
  [{ role: 'user', content: 'Explique-moi la différence entre un prêt à taux fixe et un prêt à taux variable.' }],
  [
    {
      role: 'user',
      content: 'Fix this SQL: SELECT name, COUNT(*) FROM orders GROUP BY customer_id HAVING total > 100;',
    },
  ],
  [{ role: 'user', content: 'Give me 3 ideas for a birthday party 🎉🎂 for a 7-year-old who loves dinosaurs 🦖.' }],
  [
    { role: 'user', content: 'I have 12 apples and give away 5.' },
    { role: 'assistant', content: 'Then you have 7 apples left.' },
    { role: 'user', content: 'Now I buy twice as many as I have. How many in total?' },
  ],
  [
    { role: 'system', content: 'Answer only with valid JSON.' },
    { role: 'user', content: 'List three primary colours with their hex codes.' },
  ],
  [
    {
      role: 'user',
      content: 'Our Q3 revenue was $4.2M, up 18% year over year, but churn rose to 6.5%. Draft a board update.',
    },
  ],
  [{ role: 'user', content: 'Как приготовить борщ? Нужен простой рецепт на четыре порции.' }],
  [{ role: 'user', content: 'Explain TCP slow start and congestion avoidance to a first-year student.' }],
  [{ role: 'user', content: 'const x = [1, 2, 3].map((n) => n * 2).filter((n) => n > 2); // what is x?' }],
  [
    { role: 'developer', content: 'Be brief.' },
    { role: 'user', content: 'Is 7919 a prime number?' },
  ],
  [{ role: 'user', content: '请帮我写一封辞职信，语气要礼貌，说明我将在两周后离职。' }],
  [
    {
      role: 'user',
      content: 'Password reset: my account alice@example.com is locked after 5 failed attempts, ticket #88213.',
    },
  ],
  [{ role: 'user', content: 'Compose a haiku about autumn rain on a tin roof.' }],
  [{ role: 'user', content: 'What are the side effects of ibuprofen 400 mg taken twice daily for two weeks?' }],
];
