import { Client, Server, xdr } from 'xdrd';

const PROGRAM = 0x20001234;
const VERSION = 1;
const GREET = 1;
const name = xdr.string(256);

const server = new Server();
server.handle(PROGRAM, VERSION, {
  [GREET]: (body) => xdr.encode(name, `Hello, ${xdr.decode(name, body)}!`),
});

async function main() {
  const address = await server.listen({ port: 0 });
  const client = await Client.connect(address);
  const reply = await client.call(PROGRAM, VERSION, GREET, xdr.encode(name, 'Ada'));
  console.log(xdr.decode(name, reply)); // Hello, Ada!
  await client.close();
  await server.close();
}

main();
