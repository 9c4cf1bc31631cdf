// Placeholder entry point until the tool's issue lands.
return 0;
