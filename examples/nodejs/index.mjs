// A Node.js function: greets whoever the event names, and says which version answered.
export const handler = async (event, context) => {
  const name = event.name ?? "world";
  console.log(`greeting ${name}`);
  return {
    greeting: `Hello, ${name}!`,
    version: context.functionVersion,
    invoked_as: context.invokedFunctionArn,
  };
};
