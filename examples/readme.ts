import { Client, Server, defineProgram, xdr } from 'xdrd';

// Schemas are TypeScript values; argument and result types are inferred.
const Hello = defineProgram({
  number: 0x20001234,
  version: 1,
  procedures: {
    greet: { id: 1, args: xdr.struct({ name: xdr.string(256) }), result: xdr.string(512) },
  },
});

const server = new Server();
server.handle(Hello, {
  greet: ({ name }) => `Hello, ${name}!`,
});

async function main() {
  const address = await server.listen({ port: 0 });
  const client = await Client.connect(address);
  console.log(await client.call(Hello.procedures.greet, { name: 'Ada' })); // Hello, Ada!
  await client.close();
  await server.close();
}

main();
