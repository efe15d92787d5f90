// The smallest session: count this visitor's page views.
//   node examples/counter/server.js   then open http://localhost:3000 and reload
import { createServer } from 'node:http';
import { createSessions } from 'plain-session';

const sessions = createSessions(); // in-memory store by default

const server = createServer(
  sessions.wrap((req, res, session) => {
    session.data.views = (session.data.views ?? 0) + 1;
    res.end(`You have been here ${session.data.views} time(s).\n`);
  }),
);

server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`counter on http://localhost:${server.address().port}`);
});
