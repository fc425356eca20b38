/** The paper theory checks (placeholder). @module */
export {};
