"""A Python function: greets whoever the event names, and says which version answered."""

import os


def handler(event, context):
    name = event.get("name", "world")
    print(f"greeting {name}")
    return {
        "greeting": f"Hello, {name}!",
        "version": context.function_version,
        "invoked_as": context.invoked_function_arn,
        "memory_mb": int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
    }
